import Foundation
import StoreCore

/// The random number generators of YCSB's core workload, with YCSB's definitions, driven by a
/// seeded `SeededRandom` so that a spec and a seed always give the same operations.
enum YCSB {
    /// YCSB's `Utils.fnvhash64`: FNV-1a over the 8 bytes of `value`, made non-negative.
    static func fnvhash64(_ value: Int64) -> Int64 {
        var hash: Int64 = Int64(bitPattern: 0xCBF2_9CE4_8422_2325)
        var rest = value
        for _ in 0..<8 {
            let octet = rest & 0xFF
            rest >>= 8
            hash ^= octet
            hash = hash &* 1_099_511_628_211
        }
        return hash == Int64.min ? hash : abs(hash)
    }

    @inline(__always)
    static func nextDouble(_ random: inout SeededRandom) -> Double {
        Double(random.next() >> 11) * 0x1.0p-53
    }

    /// YCSB's `ZipfianGenerator`: Gray et al.'s method, items `base ..< base + items`.
    struct Zipfian {
        static let defaultConstant = 0.99
        let base: Int64
        let items: Int64
        let theta: Double
        let alpha: Double
        let zeta2theta: Double
        var zetan: Double
        var eta: Double
        var countForZeta: Int64

        init(min: Int64, max: Int64, constant: Double = defaultConstant, zetan precomputed: Double? = nil) {
            base = min
            items = max - min + 1
            theta = constant
            alpha = 1 / (1 - theta)
            zeta2theta = Self.zeta(from: 0, to: 2, theta: constant, initial: 0)
            zetan = precomputed ?? Self.zeta(from: 0, to: items, theta: constant, initial: 0)
            countForZeta = items
            eta = (1 - pow(2 / Double(items), 1 - theta)) / (1 - zeta2theta / zetan)
        }

        static func zeta(from start: Int64, to end: Int64, theta: Double, initial: Double) -> Double {
            var sum = initial
            var index = start
            while index < end {
                sum += 1 / pow(Double(index + 1), theta)
                index += 1
            }
            return sum
        }

        /// A value among the first `itemCount` items (YCSB's `nextLong(itemcount)`, including its
        /// incremental zeta update when the count grows and its use of the original item count in eta).
        mutating func next(_ random: inout SeededRandom, itemCount: Int64? = nil) -> Int64 {
            let count = itemCount ?? items
            if count > countForZeta {
                zetan = Self.zeta(from: countForZeta, to: count, theta: theta, initial: zetan)
                countForZeta = count
                eta = (1 - pow(2 / Double(items), 1 - theta)) / (1 - zeta2theta / zetan)
            }
            let u = YCSB.nextDouble(&random)
            let uz = u * zetan
            if uz < 1 { return base }
            if uz < 1 + pow(0.5, theta) { return base + 1 }
            return base + Int64(Double(count) * pow(eta * u - eta + 1, alpha))
        }
    }

    /// YCSB's `ScrambledZipfianGenerator`: a zipfian over 10¹⁰ items, hashed into the range, so
    /// popular items are spread over the key space.
    struct ScrambledZipfian {
        static let itemCount: Int64 = 10_000_000_000
        /// ζ(10¹⁰, 0.99), as YCSB precomputes it.
        static let zetan = 26.46902820178302
        let min: Int64
        let count: Int64
        var zipfian: Zipfian

        init(min: Int64, max: Int64) {
            self.min = min
            count = max - min + 1
            zipfian = Zipfian(min: 0, max: Self.itemCount, zetan: Self.zetan)
        }

        mutating func next(_ random: inout SeededRandom) -> Int64 {
            min + YCSB.fnvhash64(zipfian.next(&random)) % count
        }
    }

    /// YCSB's `HotspotIntegerGenerator`.
    struct Hotspot {
        let lower: Int64
        let hotInterval: Int64
        let coldInterval: Int64
        let hotOperationFraction: Double

        init(lower: Int64, upper: Int64, hotSetFraction: Double, hotOperationFraction: Double) {
            self.lower = lower
            let interval = upper - lower + 1
            hotInterval = Swift.max(1, Int64(Double(interval) * hotSetFraction))
            coldInterval = Swift.max(1, interval - hotInterval)
            self.hotOperationFraction = hotOperationFraction
        }

        func next(_ random: inout SeededRandom) -> Int64 {
            if YCSB.nextDouble(&random) < hotOperationFraction {
                return lower + Int64(random.next() >> 1) % hotInterval
            }
            return lower + hotInterval + Int64(random.next() >> 1) % coldInterval
        }
    }

    /// YCSB's `ExponentialGenerator`: `percentile`% of values fall below `range`.
    struct Exponential {
        let gamma: Double

        init(percentile: Double, range: Double) {
            gamma = -log(1 - percentile / 100) / range
        }

        func next(_ random: inout SeededRandom) -> Int64 {
            Int64(-log(Swift.max(YCSB.nextDouble(&random), .leastNonzeroMagnitude)) / gamma)
        }
    }

    /// YCSB's `DiscreteGenerator`: picks a label with probability proportional to its weight.
    struct Discrete<Label> {
        var choices: [(weight: Double, label: Label)] = []
        var total: Double { choices.reduce(0) { $0 + $1.weight } }

        mutating func add(_ weight: Double, _ label: Label) {
            if weight > 0 { choices.append((weight, label)) }
        }

        func next(_ random: inout SeededRandom) -> Label {
            let sum = total
            var value = YCSB.nextDouble(&random)
            for choice in choices {
                if value < choice.weight / sum { return choice.label }
                value -= choice.weight / sum
            }
            return choices[choices.count - 1].label
        }
    }
}
