#if canImport(Glibc)
import Glibc
#endif
import Histogram
import StoreCore
import Workload

/// The kinds latency is reported for: single operations, and whole batches.
public enum MeasuredKind: Int, CaseIterable, Sendable {
    case get, put, delete, scan, rmw, batch

    public var name: String {
        switch self {
        case .get: "get"
        case .put: "put"
        case .delete: "delete"
        case .scan: "scan"
        case .rmw: "rmw"
        case .batch: "batch"
        }
    }
}

/// Latency histograms in nanoseconds, from 1 ns to one hour, three significant digits.
func makeHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
}

/// Executes a trace's operations against a store: values are synthesized from the seed, the key
/// and the operation's position (so every write has its own bytes, reproducibly), batches are
/// gathered from `begin` to `commit` and applied at once, read-modify-writes read then write.
/// Measurement is optional, so the same code loads, measures, and drives the crash child.
public struct Replayer {
    public let store: any Store
    let synthesizer: ValueSynthesizer
    private var value: [UInt8] = []
    private var readBuffer: [UInt8] = []
    private var batch: WriteBatch?
    private var batchStart: UInt64 = 0
    private var batchMark = 0
    /// Position of the next operation in the trace (every record counts, begin and commit too).
    public private(set) var position = 0

    public init(store: any Store, synthesizer: ValueSynthesizer, startingAt position: Int = 0) {
        self.store = store
        self.synthesizer = synthesizer
        self.position = position
        value.reserveCapacity(4096)
    }

    /// What executing one operation finished, if anything.
    public enum Completion {
        /// The operation is part of a batch that has not committed yet.
        case pending
        /// A single operation, or a batch at its commit, is done; a write is durable as the
        /// durability option promises.
        case completed(MeasuredKind, isWrite: Bool, startedAt: UInt64, mark: Int)
    }

    /// Executes `operation`.
    /// - Parameter start: when the operation started (or was due, when paced).
    @inline(__always)
    public mutating func execute(_ operation: WorkloadOperation, start: UInt64, mark: Int) throws -> Completion {
        let index = position
        position += 1
        switch operation.kind {
        case .get:
            _ = try store.get(operation.key, into: &readBuffer)
            return .completed(.get, isWrite: false, startedAt: start, mark: mark)
        case .put:
            let bytes = valueBytes(operation, version: index)
            if batch != nil {
                batch!.put(operation.key, bytes)
                return .pending
            }
            try store.put(operation.key, bytes)
            return .completed(.put, isWrite: true, startedAt: start, mark: mark)
        case .delete:
            if batch != nil {
                batch!.delete(operation.key)
                return .pending
            }
            try store.delete(operation.key)
            return .completed(.delete, isWrite: true, startedAt: start, mark: mark)
        case .scan:
            try store.scan(from: operation.key, limit: operation.scanCount) { _, _ in }
            return .completed(.scan, isWrite: false, startedAt: start, mark: mark)
        case .readModifyWrite:
            _ = try store.get(operation.key, into: &readBuffer)
            try store.put(operation.key, valueBytes(operation, version: index))
            return .completed(.rmw, isWrite: true, startedAt: start, mark: mark)
        case .begin:
            batch = WriteBatch()
            batchStart = start
            batchMark = mark
            return .pending
        case .commit:
            guard let pending = batch else {
                throw StoreError.invalidArgument("trace position \(index): commit without begin")
            }
            batch = nil
            try store.apply(pending)
            return .completed(.batch, isWrite: true, startedAt: batchStart, mark: batchMark)
        }
    }

    /// The value a write at trace position `version` puts: the trace's own bytes, or synthesized.
    @inline(__always)
    mutating func valueBytes(_ operation: WorkloadOperation, version: Int) -> [UInt8] {
        if let explicit = operation.value { return explicit }
        synthesizer.fill(&value, size: operation.valueSize, key: operation.key, version: UInt64(version))
        return value
    }
}

/// Latency and throughput of one measured phase.
public struct PhaseMeasurement {
    public var operations = 0
    public var elapsedSeconds = 0.0
    public var histograms: [Histogram<UInt64>] = MeasuredKind.allCases.map { _ in makeHistogram() }
    /// Operations that overlapped maintenance work.
    public var duringMaintenance = makeHistogram()
    public var timeseries = Timeseries()

    public struct Timeseries {
        public var t: [Double] = []
        public var opsPerSecond: [Double] = []
        public var p99Microseconds: [Double] = []
        public var diskBytes: [Int] = []
        public var allocatedDiskBytes: [Int] = []
    }
}

/// Runs the trace operations from the current position through `end` with measurement.
public struct MeasuredReplay {
    public var pace: Pace = .max
    /// Seconds per time-series sample.
    public var sampleInterval = 1.0
    /// Sizes the store's directory on disk for the time series (`nil`: not sampled).
    public var diskUsage: (() throws -> StoreStatistics)?
    /// Called at every sample with (operations so far, elapsed seconds, operations per second).
    public var progress: ((Int, Double, Double) -> Void)?

    public init() {}

    /// Replays operations from `reader` until `count` have been executed (or the trace ends).
    public func run<Source: OperationSource>(
        _ replayer: inout Replayer, from reader: inout Source, count: Int
    ) throws -> PhaseMeasurement {
        var measurement = PhaseMeasurement()
        var interval = makeHistogram()
        var operation = WorkloadOperation(.get)
        let metrics = replayer.store.metrics
        let start = MonotonicClock.now()
        let sampleNanos = UInt64(sampleInterval * 1e9)
        var nextSample = start + sampleNanos
        var operationsAtSample = 0
        var firstTimestamp: UInt64?
        var executed = 0
        var completed = 0

        func sample(_ now: UInt64) throws {
            let seconds = Double(now - start) / 1e9
            let elapsed = Double(now - (nextSample - sampleNanos)) / 1e9
            let rate = Double(completed - operationsAtSample) / max(elapsed, 1e-9)
            measurement.timeseries.t.append(seconds)
            measurement.timeseries.opsPerSecond.append(rate)
            measurement.timeseries.p99Microseconds.append(interval.totalCount > 0 ? Double(interval.valueAtPercentile(99)) / 1000 : 0)
            if let diskUsage {
                let usage = try diskUsage()
                measurement.timeseries.diskBytes.append(usage.diskBytes)
                measurement.timeseries.allocatedDiskBytes.append(usage.allocatedBytes)
            }
            interval.reset()
            operationsAtSample = completed
            nextSample = now + sampleNanos
            progress?(completed, seconds, rate)
        }

        while executed < count, try reader.next(into: &operation) {
            executed += 1
            var begin = MonotonicClock.now()
            switch pace {
            case .max:
                break
            case let .rate(rate):
                let due = start + UInt64(Double(executed - 1) / rate * 1e9)
                begin = Self.wait(until: due, now: begin)
            case let .recorded(speedup):
                if let timestamp = operation.timestamp {
                    if firstTimestamp == nil { firstTimestamp = timestamp }
                    let offset = Double(timestamp &- firstTimestamp!) * 1000 / speedup
                    begin = Self.wait(until: start + UInt64(max(offset, 0)), now: begin)
                }
            }
            let mark = metrics.maintenanceMark
            guard case let .completed(kind, _, startedAt, startMark) = try replayer.execute(operation, start: begin, mark: mark) else { continue }
            let end = MonotonicClock.now()
            let latency = end &- startedAt
            measurement.histograms[kind.rawValue].record(latency)
            interval.record(latency)
            let endMark = metrics.maintenanceMark
            if startMark < 0 || endMark < 0 || startMark != endMark { measurement.duringMaintenance.record(latency) }
            completed += 1
            if completed & 1023 == 0 && end >= nextSample { try sample(end) }
        }
        let end = MonotonicClock.now()
        if completed > operationsAtSample || measurement.timeseries.t.isEmpty { try sample(end) }
        measurement.operations = completed
        measurement.elapsedSeconds = Double(end - start) / 1e9
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
