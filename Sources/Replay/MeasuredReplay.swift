#if canImport(Glibc)
import Glibc
#endif
import Histogram
import StoreCore
import Synchronization
import Workload

/// Latency and throughput of one measured phase.
public struct PhaseMeasurement {
    public var operations = 0
    public var elapsedSeconds = 0.0
    /// Worker threads that replayed the phase.
    public var threads = 1
    public var histograms: [Histogram<UInt64>] = MeasuredKind.allCases.map { _ in makeHistogram() }
    /// Operations that overlapped maintenance work.
    public var duringMaintenance = makeHistogram()
    public var timeseries = Timeseries()

    public struct Timeseries {
        public var t: [Double] = []
        public var opsPerSecond: [Double] = []
        public var p50Microseconds: [Double] = []
        public var p99Microseconds: [Double] = []
        public var p999Microseconds: [Double] = []
        public var maxMicroseconds: [Double] = []
        public var diskBytes: [Int] = []
        /// HdrHistogram interval-log lines, one per interval and operation kind (and `all`),
        /// times from the start of the phase: `HdrHistogramLog` writes them out.
        public var latencyLog: [String] = []
        public var allocatedDiskBytes: [Int] = []
    }

    /// Seconds the warm-up took (0 without one).
    public var warmUpSeconds = 0.0

    /// Sets the measured span: from the warm-up's end (the start without one) to `ended`.
    mutating func finish(start: UInt64, ended: UInt64, gate: WarmUpGate) {
        let measured = gate.measurementStart == 0 ? ended : gate.measurementStart
        warmUpSeconds = Double(measured &- start) / 1e9
        elapsedSeconds = Double(ended &- measured) / 1e9
    }

    /// Adds another worker's operations and latencies: histograms merge exactly.
    mutating func add(_ other: WorkerMeasurement) {
        operations += other.completed
        for kind in MeasuredKind.allCases { histograms[kind.rawValue].add(other.histograms[kind.rawValue]) }
        duringMaintenance.add(other.duringMaintenance)
    }
}

/// How much of a run warms the store and the caches up before figures count: a time, or a number
/// of operations over all threads. Operations in it still appear in the time series.
public enum WarmUp: Sendable, Equatable, CustomStringConvertible {
    case seconds(Double)
    case operations(Int)

    /// Parses `30s`, `1.5s` or an operation count (`100000`).
    public init?(parsing text: String) {
        if text.hasSuffix("s"), let seconds = Double(text.dropLast()), seconds >= 0 {
            self = .seconds(seconds)
        } else if let count = Int(text), count >= 0 {
            self = .operations(count)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case let .seconds(seconds): "\(seconds)s"
        case let .operations(count): "\(count) operations"
        }
    }
}

/// Where the warm-up of one replay ends, shared by its workers: the first completion past the
/// warm-up (by time, or by the count over every worker) sets the moment measurement starts.
final class WarmUpGate: Sendable {
    private let ended = Atomic<UInt64>(0)
    private let completed = Atomic<Int>(0)
    private let deadline: UInt64?
    private let operations: Int?

    init(_ warmUp: WarmUp?, start: UInt64) {
        switch warmUp {
        case nil:
            deadline = nil
            operations = nil
            ended.store(start, ordering: .relaxed)
        case let .seconds(seconds)?:
            deadline = start + UInt64(seconds * 1e9)
            operations = nil
        case let .operations(count)?:
            deadline = nil
            operations = count
        }
    }

    /// The moment measurement started, or 0 while warming up.
    var measurementStart: UInt64 { ended.load(ordering: .acquiring) }

    /// Notes a completion at `time`. - Returns: whether it counts (warm-up is over).
    @inline(__always)
    func counts(at time: UInt64) -> Bool {
        if ended.load(ordering: .relaxed) != 0 { return true }
        if let deadline {
            guard time >= deadline else { return false }
            _ = ended.compareExchange(expected: 0, desired: deadline, ordering: .acquiringAndReleasing)
            return true
        }
        let done = completed.add(1, ordering: .relaxed).newValue
        guard done > operations! else { return false }
        _ = ended.compareExchange(expected: 0, desired: time, ordering: .acquiringAndReleasing)
        return true
    }
}

/// One worker thread's measurements.
struct WorkerMeasurement {
    var completed = 0
    var histograms: [Histogram<UInt64>] = MeasuredKind.allCases.map { _ in makeHistogram() }
    var duringMaintenance = makeHistogram()
    var ended: UInt64 = 0

    /// Adds one interval's operations, every one of them measured.
    mutating func add(interval: [Histogram<UInt64>], count: Int) {
        guard count > 0 else { return }
        for kind in MeasuredKind.allCases where interval[kind.rawValue].totalCount > 0 {
            histograms[kind.rawValue].add(interval[kind.rawValue])
        }
        completed += count
    }
}

/// Replays trace operations with measurement, on one thread or on several (see
/// `ParallelReplay`): latency per operation kind from when each operation started or — paced —
/// was due, operations that overlapped maintenance, and a time series.
public struct MeasuredReplay {
    public var pace: Pace = .max
    /// Seconds per time-series sample.
    public var sampleInterval = 1.0
    /// Sizes the store's directory on disk for the time series (`nil`: not sampled).
    public var diskUsage: (() throws -> StoreStatistics)?
    /// Called at every sample with (operations so far, elapsed seconds, operations per second).
    public var progress: ((Int, Double, Double) -> Void)?
    /// Called on the worker's thread after every write commit the store acknowledged, with the
    /// worker and the trace position it reached (a crash child reports these to its parent).
    public var acknowledge: ((_ worker: Int, _ position: Int) throws -> Void)?
    /// Operations before this count in the time series only.
    public var warmUp: WarmUp?

    public init() {}

    /// Replays operations from `reader` on this thread until `count` trace records have been
    /// executed (or the trace ends), continuing at the replayer's position.
    public func run<Source: OperationSource>(
        _ replayer: inout Replayer, from reader: inout Source, count: Int
    ) throws -> PhaseMeasurement {
        var source = SequentialSource(reader, pace: pace, startingAt: replayer.position, count: count)
        let start = MonotonicClock.now()
        let board = IntervalBoard(start: start, lengthSeconds: sampleInterval, workers: 1, diskUsage: diskUsage, progress: progress)
        let gate = WarmUpGate(warmUp, start: start)
        let worker = try Self.replay(&replayer, from: &source, worker: 0, board: board, warmUp: gate, acknowledge: acknowledge)
        reader = source.source
        var measurement = PhaseMeasurement()
        measurement.add(worker)
        measurement.finish(start: start, ended: worker.ended, gate: gate)
        measurement.timeseries = try board.finish(at: worker.ended)
        return measurement
    }

    /// One worker's loop: executes what `source` yields, measuring each completed operation.
    static func replay<Source: ReplaySource>(
        _ replayer: inout Replayer, from source: inout Source, worker: Int, board: IntervalBoard, warmUp: WarmUpGate,
        acknowledge: ((Int, Int) throws -> Void)? = nil
    ) throws -> WorkerMeasurement {
        var warm = warmUp.measurementStart != 0
        var measurement = WorkerMeasurement()
        // Per kind, so the time series and the interval log have every kind's percentiles.
        var interval = MeasuredKind.allCases.map { _ in makeHistogram() }
        var intervalCount = 0
        // Each latency is recorded once, in `interval`; an interval measured from its start is
        // added to the phase's histograms whole when it closes. Only the interval in which the
        // warm-up ends records its measured operations in the phase's histograms one by one.
        var intervalIsMeasured = warm
        var batch = LatencyBatch()
        defer { batch.deallocate() }
        var currentInterval = 0
        var intervalEnd = board.end(of: 0)
        var operation = WorkloadOperation(.get)
        var slot = ReplaySlot()
        // Where the source allows it, the record after the one being executed is read (and its
        // value located) one step early, so the value's bytes are in the cache by the time its
        // clock starts.
        let readsAhead = Source.allowsReadingAhead
        var upcoming = WorkloadOperation(.get)
        var upcomingSlot = ReplaySlot()
        var hasUpcoming = readsAhead ? try source.next(into: &upcoming, slot: &upcomingSlot) : false
        if hasUpcoming { replayer.prepare(upcoming, at: upcomingSlot.position) }
        let metrics = replayer.store.metrics
        let start = board.start

        while true {
            if readsAhead {
                guard hasUpcoming else { break }
                swap(&operation, &upcoming)
                swap(&slot, &upcomingSlot)
                hasUpcoming = try source.next(into: &upcoming, slot: &upcomingSlot)
                if hasUpcoming { replayer.prepare(upcoming, at: upcomingSlot.position) }
            } else {
                guard try source.next(into: &operation, slot: &slot) else { break }
                replayer.prepare(operation, at: slot.position)
            }
            var begin = MonotonicClock.now()
            if let due = slot.due { begin = wait(until: start &+ due, now: begin) }
            let mark = metrics.maintenanceMark
            guard case let .completed(kind, isWrite, startedAt, startMark) = try replayer.execute(operation, at: slot.position, start: begin, mark: mark)
            else { continue }
            let end = MonotonicClock.now()
            if isWrite, let acknowledge { try acknowledge(worker, replayer.position) }
            let latency = end &- startedAt
            batch.add(kind, latency, flushingInto: &interval)
            intervalCount += 1
            if !warm { warm = warmUp.counts(at: end) }
            if warm {
                if !intervalIsMeasured {
                    measurement.histograms[kind.rawValue].record(latency)
                    measurement.completed += 1
                }
                let endMark = metrics.maintenanceMark
                if startMark < 0 || endMark < 0 || startMark != endMark { measurement.duringMaintenance.record(latency) }
            }
            // Every completion reads the clock anyway, so intervals close on time even for an
            // engine that completes a few operations a second.
            if end >= intervalEnd {
                batch.flush(into: &interval)
                let next = board.interval(at: end)
                if intervalIsMeasured { measurement.add(interval: interval, count: intervalCount) }
                board.report(worker: worker, interval: currentInterval, count: intervalCount, histograms: interval, movingTo: next)
                for index in interval.indices where interval[index].totalCount > 0 { interval[index].reset() }
                intervalCount = 0
                intervalIsMeasured = warm
                currentInterval = next
                intervalEnd = board.end(of: next)
            }
        }
        measurement.ended = MonotonicClock.now()
        batch.flush(into: &interval)
        if intervalIsMeasured { measurement.add(interval: interval, count: intervalCount) }
        board.report(worker: worker, interval: currentInterval, count: intervalCount, histograms: interval, movingTo: .max)
        return measurement
    }

    /// Waits until `due` (sleeping for long waits, spinning for the last stretch).
    /// - Returns: the time the operation is due: latency counts from then.
    @inline(__always)
    static func wait(until due: UInt64, now: UInt64) -> UInt64 {
        var current = now
        while current < due {
            let remaining = due - current
            if remaining > 200_000 { usleep(UInt32((remaining - 100_000) / 1000)) }
            current = MonotonicClock.now()
        }
        return due
    }
}
