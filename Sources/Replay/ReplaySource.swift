import StoreCore
import Workload

/// Where a trace record sits and when it is due, beside the operation itself.
public struct ReplaySlot {
    /// Trace position of the record (it selects the synthesized value a write puts).
    public var position = 0
    /// For the first record of an operation (a single operation, or a batch's `begin`) in a paced
    /// replay: nanoseconds after the replay's start at which it is due. `nil` otherwise.
    public var due: UInt64?

    public init() {}
}

/// What a replay worker reads: the records it executes, in order, with their slots.
public protocol ReplaySource {
    /// Fills `operation` and `slot` with the next record.
    /// - Returns: `false` at the end.
    mutating func next(into operation: inout WorkloadOperation, slot: inout ReplaySlot) throws -> Bool

    /// Whether the replay may read a record before it has executed the one read before it. A
    /// source that learns from `next` that the previous record was executed (workers waiting on
    /// each other's progress) must say no.
    static var allowsReadingAhead: Bool { get }
}

extension ReplaySource {
    public static var allowsReadingAhead: Bool { false }
}

/// Turns a pace into due times. Pacing counts *operations*: a batch (`begin` … `commit`) is one
/// operation due when its `begin` is, and the records inside it are not paced on their own.
struct Pacer {
    let pace: Pace
    /// Operations started so far (the ordinal of the next one).
    private(set) var ordinal = 0
    private var firstTimestamp: UInt64?
    /// Operations whose recorded time lies before the first one's: they are due at once (a trace
    /// whose clock went backwards is replayed, not rejected; the count says how often).
    private(set) var earlierThanStart = 0
    private var inBatch = false

    init(_ pace: Pace) { self.pace = pace }

    /// The due time (nanoseconds after the start) of `operation`, the next record in trace order;
    /// `nil` for a record inside a batch or an unpaced replay.
    @inline(__always)
    mutating func due(of operation: WorkloadOperation) -> UInt64? {
        switch operation.kind {
        case .commit:
            inBatch = false
            return nil
        case .begin:
            inBatch = true
        default:
            if inBatch { return nil }
        }
        defer { ordinal += 1 }
        switch pace {
        case .max:
            return nil
        case let .rate(rate):
            return UInt64(Double(ordinal) / rate * 1e9)
        case let .recorded(speedup):
            guard let timestamp = operation.timestamp else { return nil }
            let first = firstTimestamp ?? timestamp
            firstTimestamp = first
            guard timestamp >= first else {
                earlierThanStart += 1
                return 0
            }
            // Microseconds to nanoseconds, capped far beyond any replay (a wild timestamp must
            // not overflow the conversion).
            return UInt64(min(Double(timestamp - first) * 1000 / speedup, 1e18))
        }
    }
}

/// A whole trace (or what is left of it) for one worker: records in trace order, positions
/// counted from `start`.
struct SequentialSource<Source: OperationSource>: ReplaySource {
    /// Records come from a trace alone: reading one early tells nobody anything.
    static var allowsReadingAhead: Bool { true }

    var source: Source
    var pacer: Pacer
    var position: Int
    /// Records left to read.
    var remaining: Int

    init(_ source: Source, pace: Pace, startingAt position: Int, count: Int) {
        self.source = source
        pacer = Pacer(pace)
        self.position = position
        remaining = count
    }

    @inline(__always)
    mutating func next(into operation: inout WorkloadOperation, slot: inout ReplaySlot) throws -> Bool {
        guard remaining > 0, try source.next(into: &operation) else { return false }
        remaining -= 1
        slot.position = position
        slot.due = pacer.due(of: operation)
        position += 1
        return true
    }
}
