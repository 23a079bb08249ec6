import StoreCore

/// A short, self-checking put/get/scan/delete run over one store: random fill, random reads (every
/// read must hit), range scans, overwrites, random deletes (each deleted key must then miss) and a
/// compaction. It is the measured run the CLI offers until full workload replay exists, and a
/// smoke test that an engine still returns what it was given.
public struct QuickBenchmark {
    public struct Configuration: Sendable {
        public var records: Int
        public var keySize: Int
        public var valueSize: Int
        public var scanLength: Int
        public var seed: UInt64

        public init(records: Int, keySize: Int = 16, valueSize: Int = 100, scanLength: Int = 100, seed: UInt64) {
            self.records = records
            self.keySize = keySize
            self.valueSize = valueSize
            self.scanLength = scanLength
            self.seed = seed
        }
    }

    /// One timed phase.
    public struct Phase: Sendable {
        public var name: String
        public var operations: Int
        public var seconds: Double
        public var opsPerSecond: Double { seconds > 0 ? Double(operations) / seconds : 0 }
        public var microsecondsPerOp: Double { operations > 0 ? seconds * 1e6 / Double(operations) : 0 }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration) throws(StoreError) {
        guard configuration.records > 0 else { throw .invalidArgument("records must be positive") }
        guard configuration.keySize >= 8 else {
            throw .invalidArgument("key size must be at least 8 bytes to hold distinct keys")
        }
        try StoreLimits.check(keySize: configuration.keySize)
        try StoreLimits.check(valueSize: configuration.valueSize)
        self.configuration = configuration
    }

    /// Key number `index`: its 8 bytes big-endian after a bijective scramble, so keys sort in an
    /// order unrelated to `index`, padded with zeros to the key size.
    func key(_ index: Int) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: configuration.keySize)
        let scrambled = UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        for byte in 0..<8 { key[byte] = UInt8(truncatingIfNeeded: scrambled >> (56 - 8 * UInt64(byte))) }
        return key
    }

    /// Runs every phase on `store`.
    /// - Throws: the store's errors, or `StoreError.corrupted` when a read disagrees with what was
    ///   written (the benchmark checks the engine as it measures it).
    public func run(on store: any Store) throws -> [Phase] {
        let records = configuration.records
        var random = SeededRandom(seed: configuration.seed)
        // Values are windows into one random pool: distinct, incompressible, cheap to make.
        let pool = random.bytes(configuration.valueSize + 4096)
        func value(_ index: Int) -> [UInt8] {
            let start = (index &* 31) % 4096
            return Array(pool[start..<(start + configuration.valueSize)])
        }
        var order = Array(0..<records)
        order.shuffle(using: &random)
        var phases: [Phase] = []

        func timed(_ name: String, _ operations: Int, _ body: () throws -> Void) rethrows {
            let start = MonotonicClock.now()
            try body()
            phases.append(Phase(name: name, operations: operations, seconds: MonotonicClock.seconds(since: start)))
        }

        try timed("fillrandom", records) {
            for index in order { try store.put(key(index), value(index)) }
        }
        order.shuffle(using: &random)
        var buffer: [UInt8] = []
        try timed("readrandom", records) {
            for index in order {
                guard try store.get(key(index), into: &buffer) else {
                    throw StoreError.corrupted(file: store.engineName, offset: Int64(index), reason: "key #\(index) written but not found")
                }
                if buffer.count != configuration.valueSize {
                    throw StoreError.corrupted(file: store.engineName, offset: Int64(index), reason: "key #\(index) returned \(buffer.count) bytes, \(configuration.valueSize) written")
                }
            }
        }
        let scans = max(1, records / 100)
        try timed("scan\(configuration.scanLength)", scans) {
            for _ in 0..<scans {
                var previous: [UInt8]?
                try store.scan(from: key(random.below(records)), limit: configuration.scanLength) { key, _ in
                    if let previous, KeyOrder.compare(previous, key) >= 0 {
                        throw StoreError.corrupted(file: store.engineName, offset: 0, reason: "scan returned keys out of order")
                    }
                    previous = Array(key)
                }
            }
        }
        let overwrites = records / 2
        try timed("overwrite", overwrites) {
            for _ in 0..<overwrites {
                let index = random.below(records)
                try store.put(key(index), value(index &+ 1))
            }
        }
        let deletes = records / 4
        try timed("deleterandom", deletes) {
            for position in 0..<deletes { try store.delete(key(order[position])) }
        }
        try timed("readdeleted", deletes) {
            for position in 0..<deletes where try store.get(key(order[position]), into: &buffer) {
                throw StoreError.corrupted(file: store.engineName, offset: Int64(order[position]), reason: "deleted key is still readable")
            }
        }
        try timed("compact", 1) { try store.compact() }
        try timed("sync", 1) { try store.sync() }
        return phases
    }
}
