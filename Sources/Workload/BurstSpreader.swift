/// Spreads operations that share a whole-second timestamp evenly over their second. Traces that
/// record time in seconds (Twitter's cache traces, CacheLib's) would otherwise replay each
/// second's operations as one burst at its start and leave the rest of the second idle; spread,
/// a second of N operations has one due every 1/N s, in recorded order. Holds one second's
/// operations at a time.
public struct BurstSpreader<Source: OperationSource>: OperationSource {
    public private(set) var source: Source
    private var second: [WorkloadOperation] = []
    private var secondStart: UInt64?
    private var emitted = 0
    /// The first operation of the next second, read ahead.
    private var lookahead: WorkloadOperation?
    private var ended = false

    public init(_ source: Source) {
        self.source = source
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        if emitted < second.count {
            emit(into: &operation)
            return true
        }
        second.removeAll(keepingCapacity: true)
        emitted = 0
        if let held = lookahead {
            lookahead = nil
            second.append(held)
        } else {
            guard !ended else { return false }
            var first = WorkloadOperation(.get)
            guard try source.next(into: &first) else {
                ended = true
                return false
            }
            second.append(first)
        }
        // Operations without a time pass through alone.
        guard let start = second[0].timestamp else {
            emit(into: &operation)
            return true
        }
        secondStart = start
        while !ended {
            var following = WorkloadOperation(.get)
            guard try source.next(into: &following) else {
                ended = true
                break
            }
            if following.timestamp == start {
                second.append(following)
            } else {
                lookahead = following
                break
            }
        }
        emit(into: &operation)
        return true
    }

    private mutating func emit(into operation: inout WorkloadOperation) {
        operation = second[emitted]
        if let start = secondStart, operation.timestamp != nil {
            operation.timestamp = start + UInt64(emitted) * 1_000_000 / UInt64(second.count)
        }
        emitted += 1
    }
}
