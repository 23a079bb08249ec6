#if ReferenceEngines
import StoreCore

/// What every reference adapter shares: the directory's lock and identity (so a second open fails
/// as `locked` and a foreign directory is refused, as for our engines), user-byte counting, the
/// closed state, statistics from the directory, and a periodic sync for `Durability.interval`.
///
/// Concurrency: each library is used from many threads the way its own documentation allows
/// (LevelDB and RocksDB: one handle shared by all threads; LMDB: one environment, a read-only
/// transaction per read, its own writer mutex; SQLite: a connection per thread in WAL mode). The
/// adapter adds only `handleLock`, taken shared by every call and exclusively by `close` (and
/// SQLite's VACUUM), so a close cannot pull the handle from under a call in flight.
class ReferenceStoreBase: @unchecked Sendable {
    let name: String
    let metrics = StoreMetrics()
    let lockedDirectory: LockedDirectory
    let durability: Durability
    let maxKeySize: Int
    var isOpen = true
    /// Shared by every call on the library handle, exclusive for closing it.
    let handleLock = ReadWriteLock()
    private var syncThread: MaintenanceThread?

    var directory: StorageDirectory { lockedDirectory.directory }

    init(name: String, directory: String, options: StoreOptions, maxKeySize: Int = StoreLimits.maxKeySize,
         knownSettings: Set<String> = []) throws {
        self.name = name
        self.maxKeySize = maxKeySize
        _ = try options.engineSettings(for: name, known: knownSettings)
        durability = options.durability
        lockedDirectory = try LockedDirectory.open(
            path: directory, engine: name, formatVersion: 1, options: options, metrics: metrics)
    }

    /// Starts syncing every `milliseconds` (for `Durability.interval`); call once the handle is open.
    func startIntervalSync(_ options: StoreOptions, _ sync: @escaping () -> Void) {
        guard options.durability == .interval else { return }
        syncThread = MaintenanceThread(period: max(1, options.syncIntervalMilliseconds)) { [weak self] in
            guard let self else { return }
            self.handleLock.withSharedLock { if self.isOpen { sync() } }
        }
    }

    func stopIntervalSync() {
        syncThread?.stop()
        syncThread = nil
    }

    /// Runs `body` with the handle held open (shared with other calls); throws `closed` after close.
    @inline(__always)
    func withOpenHandle<T>(_ body: () throws -> T) throws -> T {
        handleLock.lockShared()
        defer { handleLock.unlock() }
        try checkOpen()
        return try body()
    }

    /// Runs `body` alone on the handle (no call in flight), for closing it.
    func withExclusiveHandle<T>(_ body: () throws -> T) throws -> T {
        handleLock.lockExclusive()
        defer { handleLock.unlock() }
        try checkOpen()
        return try body()
    }

    @inline(__always)
    func checkOpen() throws(StoreError) {
        if !isOpen { throw .closed }
    }

    func checkKey(_ key: [UInt8]) throws(StoreError) {
        if key.count > maxKeySize {
            throw .invalidArgument("key of \(key.count) bytes exceeds \(name)'s limit of \(maxKeySize) bytes")
        }
    }

    func checkWrite(_ key: [UInt8], _ value: [UInt8]) throws(StoreError) {
        try checkKey(key)
        try StoreLimits.check(valueSize: value.count)
    }

    func checkBatch(_ batch: WriteBatch) throws(StoreError) {
        try batch.validate()
        for operation in batch.operations { try checkKey(operation.key) }
    }

    func libraryError(_ call: String, _ code: Int32, _ message: String) -> StoreError {
        .library(name: "\(name) \(call)", code: code, message: message, path: directory.path)
    }

    /// Bytes on disk from the directory; the adapter adds what its library reports.
    func directoryStatistics() throws -> StoreStatistics {
        try directory.usage()
    }

    func releaseDirectory() {
        lockedDirectory.release()
    }
}
#endif
