#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// Wraps any store and writes every call to a trace while passing it on: how an application
/// captures its own production workload. Batches become begin … commit; timestamps are
/// microseconds since recording started; values are recorded by size only unless
/// `recordValues` is set.
///
/// Threads: a write is recorded and passed on under one lock, so the trace holds writes in the
/// order the store committed them (a key's recorded order is its real order) and each batch's
/// records stay together; reads are recorded under the lock and then run beside other calls.
public final class RecordingStore: Store, @unchecked Sendable {
    public let wrapped: any Store
    private let writer: TraceWriter
    private let recordValues: Bool
    private let start = MonotonicClock.now()
    private let lock = Lock()

    public var engineName: String { wrapped.engineName }
    public var metrics: StoreMetrics { wrapped.metrics }

    public init(wrapping store: any Store, tracePath: String, recordValues: Bool = false,
                fileSystem: any FileSystem = PosixFileSystem()) throws {
        wrapped = store
        self.recordValues = recordValues
        writer = try TraceWriter(path: tracePath, header: TraceHeader([
            ("source", "recorder:\(store.engineName)"), ("created", ISO8601Time.now()),
        ]), fileSystem: fileSystem)
    }

    private var now: UInt64 { (MonotonicClock.now() &- start) / 1000 }

    private func record(_ kind: WorkloadOperation.Kind, _ key: [UInt8], value: [UInt8]? = nil, scanCount: Int = 0) throws {
        var operation = WorkloadOperation(kind, key: key, valueSize: value?.count ?? 0, scanCount: scanCount, timestamp: now)
        if recordValues { operation.value = value }
        try writer.append(operation)
    }

    public func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        try lock.withLock { try record(.get, key) }
        return try wrapped.get(key, into: &value)
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try lock.withLock {
            try record(.put, key, value: value)
            try wrapped.put(key, value)
        }
    }

    public func delete(_ key: [UInt8]) throws {
        try lock.withLock {
            try record(.delete, key)
            try wrapped.delete(key)
        }
    }

    public func apply(_ batch: WriteBatch) throws {
        try lock.withLock {
            try record(.begin, [])
            for operation in batch.operations {
                switch operation {
                case let .put(key, value): try record(.put, key, value: value)
                case let .delete(key): try record(.delete, key)
                }
            }
            try record(.commit, [])
            try wrapped.apply(batch)
        }
    }

    @discardableResult
    public func scan(
        from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        try lock.withLock { try record(.scan, start, scanCount: limit) }
        return try wrapped.scan(from: start, limit: limit, body)
    }

    public func sync() throws { try wrapped.sync() }
    public func compact() throws { try wrapped.compact() }
    public func statistics() throws -> StoreStatistics { try wrapped.statistics() }

    /// Closes the wrapped store and finishes the trace.
    public func close() throws {
        try wrapped.close()
        _ = try lock.withLock { try writer.finish() }
    }

    /// Operations recorded so far.
    public var recordedOperations: Int { lock.withLock { writer.count } }
}
