import Foundation
import StoreCore

/// What a trace holds: op mix, distinct keys, key and value sizes, how skewed key popularity is
/// (with a Zipf fit), the working set over the trace and the times between operations. Counts
/// every key exactly, so memory grows with the number of distinct keys.
public struct TraceStatistics: Sendable {
    public private(set) var operations = 0
    public private(set) var byKind: [WorkloadOperation.Kind: Int] = [:]
    public private(set) var keySizes = SizeDistribution()
    public private(set) var valueSizes = SizeDistribution()
    /// Microseconds between consecutive timed operations (a clock going backwards is left out).
    public private(set) var interArrivals = SizeDistribution()
    public private(set) var firstTimestamp: UInt64?
    public private(set) var lastTimestamp: UInt64?
    /// Operations per working-set window.
    public let windowOperations: Int
    /// Per window of `windowOperations` operations: distinct keys accessed, and how many of them
    /// were never accessed before.
    public private(set) var workingSet: [(distinctKeys: Int, newKeys: Int)] = []
    private var popularity: [[UInt8]: Int] = [:]
    private var windowKeys: Set<Int> = []
    private var windowNew = 0
    private var windowCount = 0

    public init(windowOperations: Int = 100_000) {
        self.windowOperations = max(1, windowOperations)
    }

    /// Reads `source` to its end.
    public init<Source: OperationSource>(reading source: inout Source, windowOperations: Int = 100_000) throws {
        self.init(windowOperations: windowOperations)
        var operation = WorkloadOperation(.get)
        while try source.next(into: &operation) { add(operation) }
        finish()
    }

    public mutating func add(_ operation: WorkloadOperation) {
        operations += 1
        byKind[operation.kind, default: 0] += 1
        if let timestamp = operation.timestamp {
            if let last = lastTimestamp, timestamp >= last { interArrivals.add(Int(clamping: timestamp - last)) }
            if firstTimestamp == nil { firstTimestamp = timestamp }
            lastTimestamp = timestamp
        }
        if operation.kind != .begin && operation.kind != .commit {
            keySizes.add(operation.key.count)
            if operation.kind.writesValue { valueSizes.add(operation.valueSize) }
            var isNew = false
            popularity[operation.key, default: 0] += 1
            if popularity[operation.key] == 1 { isNew = true }
            // Hashes stand in for the window's keys (a collision undercounts by one in 2^64).
            if windowKeys.insert(operation.key.hashValue).inserted, isNew { windowNew += 1 }
        }
        windowCount += 1
        if windowCount == windowOperations { closeWindow() }
    }

    /// Closes the last, partial working-set window.
    public mutating func finish() {
        if windowCount > 0 { closeWindow() }
    }

    private mutating func closeWindow() {
        workingSet.append((windowKeys.count, windowNew))
        windowKeys.removeAll(keepingCapacity: true)
        windowNew = 0
        windowCount = 0
    }

    /// Access counts of the keys, most accessed first.
    public var rankedCounts: [Int] { popularity.values.sorted(by: >) }

    /// The exponent s of a Zipf fit, count ∝ rank^-s: the least-squares slope of log(count) over
    /// log(rank), over the keys accessed at least `minimumCount` times (the tail of keys seen once
    /// or twice is flat from sampling, not from popularity). `nil` with fewer than 10 such keys.
    public func zipfExponent(minimumCount: Int = 5) -> Double? {
        Self.zipfExponent(rankedCounts, minimumCount: minimumCount)
    }

    static func zipfExponent(_ ranked: [Int], minimumCount: Int) -> Double? {
        let counts = ranked.prefix { $0 >= minimumCount }
        guard counts.count >= 10 else { return nil }
        var sumX = 0.0, sumY = 0.0, sumXX = 0.0, sumXY = 0.0
        for (index, count) in counts.enumerated() {
            let x = log(Double(index + 1)), y = log(Double(count))
            sumX += x
            sumY += y
            sumXX += x * x
            sumXY += x * y
        }
        let n = Double(counts.count)
        let slope = (n * sumXY - sumX * sumY) / (n * sumXX - sumX * sumX)
        return -slope
    }

    public var distinctKeys: Int { popularity.count }

    /// Fraction of key accesses that go to the `count` most accessed keys.
    public func topShare(_ count: Int) -> Double {
        let accesses = popularity.values.reduce(0, +)
        guard accesses > 0 else { return 0 }
        let top = popularity.values.sorted(by: >).prefix(count).reduce(0, +)
        return Double(top) / Double(accesses)
    }

    /// The most accessed key and its share of accesses.
    public var hottestKey: (key: [UInt8], share: Double)? {
        let accesses = popularity.values.reduce(0, +)
        guard let (key, count) = popularity.max(by: { $0.value < $1.value }), accesses > 0 else { return nil }
        return (key, Double(count) / Double(accesses))
    }

    /// Fraction of all operations that are of `kind`.
    public func share(of kind: WorkloadOperation.Kind) -> Double {
        operations > 0 ? Double(byKind[kind, default: 0]) / Double(operations) : 0
    }
}

/// Exact distribution of sizes (counts per distinct size).
public struct SizeDistribution: Sendable {
    private var counts: [Int: Int] = [:]
    public private(set) var count = 0
    public private(set) var total = 0

    mutating func add(_ size: Int) {
        counts[size, default: 0] += 1
        count += 1
        total += size
    }

    public var mean: Double { count > 0 ? Double(total) / Double(count) : 0 }

    /// `(size, count)` for every distinct size, smallest first.
    public var histogram: [(size: Int, count: Int)] { counts.keys.sorted().map { ($0, counts[$0]!) } }
    public var minimum: Int? { counts.keys.min() }
    public var maximum: Int? { counts.keys.max() }

    /// The smallest size at or below which `fraction` of the values fall.
    public func percentile(_ fraction: Double) -> Int? {
        guard count > 0 else { return nil }
        let target = Int((Double(count) * fraction).rounded(.up))
        var seen = 0
        for size in counts.keys.sorted() {
            seen += counts[size]!
            if seen >= max(target, 1) { return size }
        }
        return counts.keys.max()
    }
}
