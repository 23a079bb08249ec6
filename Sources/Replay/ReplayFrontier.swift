import StoreCore
import Workload

/// How far a replay of a trace got, per worker: every record routed to worker w at a trace
/// position below `positions[w]` has been executed (for a writer: committed). With one worker it
/// is a single position, the length of the executed prefix. A crash check continues from a
/// frontier and judges a recovered store against it: workers replay disjoint keys, so each
/// worker's commits are a prefix of its own stream, not of the trace.
public struct ReplayFrontier: Sendable, Equatable, CustomStringConvertible {
    public var layout: WorkerLayout
    public var positions: [Int]

    public init(layout: WorkerLayout = .threads(1), start: Int = 0) {
        self.layout = layout
        positions = Array(repeating: start, count: layout.workers)
    }

    /// Where a replay resuming from here starts reading.
    public var lowest: Int { positions.min() ?? 0 }
    /// The furthest any worker got.
    public var highest: Int { positions.max() ?? 0 }

    /// Worker `worker` acknowledged everything before `position`.
    public mutating func advance(worker: Int, to position: Int) {
        guard positions.indices.contains(worker) else { return }
        positions[worker] = max(positions[worker], position)
    }

    /// Reader workers (`roles` layouts) acknowledge nothing: a replay continuing from here starts
    /// them where the slowest writer stands, so it does not read the trace again from the start.
    public mutating func alignReaders() {
        guard case let .roles(_, writers) = layout else { return }
        let lowestWriter = positions[0..<writers].min() ?? 0
        for reader in writers..<positions.count { positions[reader] = max(positions[reader], lowestWriter) }
    }

    /// The worker that runs the write commit made of `keys` (a single write's key, or a batch's
    /// keys in order): the same choice the dispatcher makes.
    func writer(of keys: some Sequence<[UInt8]>) -> Int {
        for key in keys { return layout.worker(for: .put, key: key) }
        return 0
    }

    /// Whether the record at `position`, routed to `worker`, was executed before this frontier.
    @inline(__always)
    func isDone(position: Int, worker: Int) -> Bool {
        position < positions[worker]
    }

    public var description: String {
        positions.count == 1 ? "position \(positions[0])" : "positions \(positions.map(String.init).joined(separator: ","))"
    }

    /// The form a crash child takes on its command line: `p0,p1,…`.
    public var argument: String { positions.map(String.init).joined(separator: ",") }

    /// Parses `argument` for `layout`.
    public init(layout: WorkerLayout, argument: String) throws(StoreError) {
        let parts = argument.split(separator: ",").map { Int($0) }
        guard parts.count == layout.workers, parts.allSatisfy({ ($0 ?? -1) >= 0 }) else {
            throw .invalidArgument("`\(argument)`: expected \(layout.workers) non-negative trace positions, one per worker")
        }
        self.layout = layout
        positions = parts.map { $0! }
    }
}

/// An acknowledgement a crash child sends: a worker and the trace position it reached after a
/// write commit, in 8 bytes (a pipe write this small is atomic, so threads may send them).
public struct Acknowledgement: Sendable, Equatable {
    public static let maintenanceFlag: UInt64 = 1 << 63
    static let workerShift: UInt64 = 48
    static let positionMask: UInt64 = (1 << 48) - 1

    public var worker: Int
    public var position: Int
    /// Sent while the store was doing maintenance.
    public var duringMaintenance: Bool

    public init(worker: Int, position: Int, duringMaintenance: Bool) {
        self.worker = worker
        self.position = position
        self.duringMaintenance = duringMaintenance
    }

    public var encoded: UInt64 {
        UInt64(position) & Self.positionMask | UInt64(worker) << Self.workerShift | (duringMaintenance ? Self.maintenanceFlag : 0)
    }

    public init(decoding value: UInt64) {
        position = Int(value & Self.positionMask)
        worker = Int((value & ~Self.maintenanceFlag) >> Self.workerShift)
        duringMaintenance = value & Self.maintenanceFlag != 0
    }
}
