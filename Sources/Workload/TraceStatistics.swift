import StoreCore

/// What a trace holds: op mix, distinct keys, key and value sizes, how skewed key popularity is.
/// Counts every key exactly, so memory grows with the number of distinct keys.
public struct TraceStatistics: Sendable {
    public private(set) var operations = 0
    public private(set) var byKind: [WorkloadOperation.Kind: Int] = [:]
    public private(set) var keySizes = SizeDistribution()
    public private(set) var valueSizes = SizeDistribution()
    public private(set) var firstTimestamp: UInt64?
    public private(set) var lastTimestamp: UInt64?
    private var popularity: [[UInt8]: Int] = [:]

    public init() {}

    /// Reads `source` to its end.
    public init<Source: OperationSource>(reading source: inout Source) throws {
        var operation = WorkloadOperation(.get)
        while try source.next(into: &operation) { add(operation) }
    }

    public mutating func add(_ operation: WorkloadOperation) {
        operations += 1
        byKind[operation.kind, default: 0] += 1
        if let timestamp = operation.timestamp {
            if firstTimestamp == nil { firstTimestamp = timestamp }
            lastTimestamp = timestamp
        }
        guard operation.kind != .begin && operation.kind != .commit else { return }
        keySizes.add(operation.key.count)
        if operation.kind.writesValue { valueSizes.add(operation.valueSize) }
        popularity[operation.key, default: 0] += 1
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
