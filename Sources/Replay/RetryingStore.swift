import StoreCore
import Synchronization

/// A store wrapper for the fault cycles that retries a write or `sync()` that failed with an
/// I/O error, as an application would after a failed fsync or a full disk: the commit is only
/// acknowledged if a retry succeeds. It counts what happened, so the cycles can check that every
/// commit acknowledged after an error is durable (or that the store kept failing).
final class RetryingStore: Store, @unchecked Sendable {
    let inner: any Store
    let attempts: Int
    private let errors = Atomic<Int>(0)
    private let acknowledgedAfter = Atomic<Int>(0)

    init(_ inner: any Store, attempts: Int) {
        self.inner = inner
        self.attempts = attempts
    }

    /// I/O errors the store reported (each failed attempt).
    var errorsSeen: Int { errors.load(ordering: .relaxed) }
    /// Writes and syncs the store acknowledged after its first I/O error.
    var acknowledgedAfterError: Int { acknowledgedAfter.load(ordering: .relaxed) }

    private func retrying<T>(_ body: () throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                let result = try body()
                if errors.load(ordering: .relaxed) > 0 { acknowledgedAfter.add(1, ordering: .relaxed) }
                return result
            } catch let error as StoreError {
                guard case .io = error else { throw error }
                errors.add(1, ordering: .relaxed)
                guard attempt < attempts else { throw error }
                attempt += 1
            }
        }
    }

    var engineName: String { inner.engineName }
    var metrics: StoreMetrics { inner.metrics }
    var effectiveSettings: [String: String] { inner.effectiveSettings }
    func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool { try inner.get(key, into: &value) }
    func put(_ key: [UInt8], _ value: [UInt8]) throws { try retrying { try inner.put(key, value) } }
    func delete(_ key: [UInt8]) throws { try retrying { try inner.delete(key) } }
    func apply(_ batch: WriteBatch) throws { try retrying { try inner.apply(batch) } }
    func scan(from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try inner.scan(from: start, limit: limit, body)
    }
    func sync() throws { try retrying { try inner.sync() } }
    func compact() throws { try inner.compact() }
    func close() throws { try inner.close() }
    func statistics() throws -> StoreStatistics { try inner.statistics() }
    func waitForMaintenance() throws { try inner.waitForMaintenance() }
}
