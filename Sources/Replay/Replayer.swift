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
    /// `ScanDigest` of every key and value scans visited (so the bytes are read, not just located).
    public private(set) var scanChecksum: UInt64 = 0
    /// Where the synthesized values of the writes at trace positions `version` come from
    /// (`prepare`): two, by the position's parity, so the next record can be prepared while the
    /// current one waits to execute.
    private var prepared: (even: (version: Int, origin: ValueSynthesizer.Origin)?, odd: (version: Int, origin: ValueSynthesizer.Origin)?) = (nil, nil)

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

    /// Locates the value a write at trace position `position` will synthesize and starts loading
    /// its bytes, before the operation's clock starts: the synthesizer's pool is read at random
    /// places, and a miss there is the harness's, not the store's.
    @inline(__always)
    public mutating func prepare(_ operation: WorkloadOperation, at position: Int) {
        guard operation.kind.writesValue, operation.value == nil, operation.valueSize > 0 else { return }
        let origin = synthesizer.origin(key: operation.key, version: UInt64(position))
        if position & 1 == 0 { prepared.even = (position, origin) } else { prepared.odd = (position, origin) }
        synthesizer.prefetch(size: operation.valueSize, from: origin)
    }

    /// Executes `operation` found at trace position `position` (a worker that replays one
    /// partition of a trace skips the positions other workers replay).
    @inline(__always)
    public mutating func execute(_ operation: WorkloadOperation, at position: Int, start: UInt64, mark: Int) throws -> Completion {
        self.position = position
        return try execute(operation, start: start, mark: mark)
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
            // Every byte a scan visits is read (digested), as a real reader would: a store
            // that hands out pointers without touching the data does not get a free scan.
            var checksum = scanChecksum
            try store.scan(from: operation.key, limit: operation.scanCount) { key, value in
                checksum = ScanDigest.fold(value, into: ScanDigest.fold(key, into: checksum))
            }
            scanChecksum = checksum
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
        if let prepared = version & 1 == 0 ? prepared.even : prepared.odd, prepared.version == version {
            synthesizer.fill(&value, size: operation.valueSize, from: prepared.origin)
        } else {
            synthesizer.fill(&value, size: operation.valueSize, key: operation.key, version: UInt64(version))
        }
        return value
    }
}
