#if ReferenceEngines
import StoreCore
#if canImport(Glibc)
import Glibc
#endif

/// The C API LevelDB and RocksDB share in shape: the calls one adapter needs, bound once per
/// library (`RocksDBBinding`, `LevelDBBinding`).
protocol LSMLibraryBinding {
    associatedtype Database
    associatedtype Options
    associatedtype ReadOptions
    associatedtype WriteOptions
    associatedtype Batch
    associatedtype Iterator
    /// Where a call leaves its error message (freed with `free`).
    typealias ErrorSlot = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>

    static var name: String { get }
    /// The library's options for `settings`, and what to release once the database is closed
    /// (objects the options only point to).
    static func makeOptions(_ settings: LSMLibrarySettings) -> (options: Options, releaseAfterClose: @Sendable () -> Void)
    static func destroyOptions(_ options: Options)
    static func makeReadOptions() -> ReadOptions
    static func destroyReadOptions(_ options: ReadOptions)
    static func makeWriteOptions(sync: Bool) -> WriteOptions
    static func destroyWriteOptions(_ options: WriteOptions)
    static func open(_ options: Options, _ path: String, _ error: ErrorSlot) -> Database?
    static func close(_ database: Database)
    static func put(_ database: Database, _ options: WriteOptions, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ error: ErrorSlot)
    static func delete(_ database: Database, _ options: WriteOptions, _ key: UnsafeRawBufferPointer, _ error: ErrorSlot)
    static func get(_ database: Database, _ options: ReadOptions, _ key: UnsafeRawBufferPointer, _ length: UnsafeMutablePointer<Int>, _ error: ErrorSlot) -> UnsafeMutablePointer<CChar>?
    static func makeBatch() -> Batch
    static func batchPut(_ batch: Batch, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer)
    static func batchDelete(_ batch: Batch, _ key: UnsafeRawBufferPointer)
    static func destroyBatch(_ batch: Batch)
    static func write(_ database: Database, _ options: WriteOptions, _ batch: Batch, _ error: ErrorSlot)
    static func makeIterator(_ database: Database, _ options: ReadOptions) -> Iterator
    static func seek(_ iterator: Iterator, _ key: UnsafeRawBufferPointer)
    static func isValid(_ iterator: Iterator) -> Bool
    static func next(_ iterator: Iterator)
    static func key(_ iterator: Iterator) -> UnsafeRawBufferPointer
    static func value(_ iterator: Iterator) -> UnsafeRawBufferPointer
    static func iteratorError(_ iterator: Iterator, _ error: ErrorSlot)
    static func destroyIterator(_ iterator: Iterator)
    static func compactAll(_ database: Database)
    /// Makes every write so far durable.
    static func sync(_ database: Database, _ error: ErrorSlot)
    static func property(_ database: Database, _ name: String) -> UnsafeMutablePointer<CChar>?
    static func free(_ pointer: UnsafeMutableRawPointer?)
    /// Integer properties that are 0 once no flush or compaction is due or running (none: the
    /// library tells nothing, and its close waits for the work it started).
    static var pendingMaintenanceProperties: [String] { get }
    /// Block cache hits and misses since open, where the library counts them (`nil`: it does not,
    /// or counting is off).
    static func cacheCounts(_ options: Options) -> (hits: Int, misses: Int)?
}

/// `rocksdb` and `leveldb`: one adapter over either library. Durability maps onto the write
/// option `sync` (always: every write syncs its log record; interval: no sync, and the log is
/// synced every interval; none: no sync). Compression is off, as in our engines. Both libraries
/// document their handle as safe for concurrent use without external locking: every thread
/// calls it directly (writers meet in the library's own write queue).
final class LSMLibraryStore<Binding: LSMLibraryBinding>: ReferenceStoreBase, Store, @unchecked Sendable {
    var engineName: String { Binding.name }
    private var database: Binding.Database?
    private let readOptions: Binding.ReadOptions
    private let writeOptions: Binding.WriteOptions
    /// The sizes in effect (by default `lsm`'s).
    let effectiveSettings: [String: String]
    private var releaseAfterClose: (@Sendable () -> Void)?
    /// Kept until the store is gone: RocksDB's statistics are read through them.
    private let libraryOptions: Binding.Options

    init(directory: String, options: StoreOptions) throws {
        let settings = try LSMLibrarySettings(engine: Binding.name, options: options)
        effectiveSettings = settings.effective
        readOptions = Binding.makeReadOptions()
        writeOptions = Binding.makeWriteOptions(sync: options.durability == .always)
        let (libraryOptions, release) = Binding.makeOptions(settings)
        self.libraryOptions = libraryOptions
        releaseAfterClose = release
        do {
            try super.init(name: Binding.name, directory: directory, options: options, knownSettings: Set(settings.effective.keys))
        } catch {
            Binding.destroyOptions(libraryOptions)
            release()
            throw error
        }
        // The library keeps its files (and its own LOCK) in a subdirectory of the store directory.
        let path = self.directory.path(of: "data")
        try StorageDirectory.createPath(path, fileSystem: options.fileSystem)
        database = try call("open") { Binding.open(libraryOptions, path, $0) }
        startIntervalSync(options) { [weak self] in
            guard let self, let database = self.database else { return }
            _ = try? self.call("sync") { Binding.sync(database, $0) }
        }
    }

    deinit {
        if isOpen { try? close() }
        Binding.destroyReadOptions(readOptions)
        Binding.destroyWriteOptions(writeOptions)
        Binding.destroyOptions(libraryOptions)
    }

    /// Runs a library call that reports failure through an error string.
    private func call<T>(_ name: String, _ body: (Binding.ErrorSlot) -> T) throws -> T {
        var message: UnsafeMutablePointer<CChar>?
        let result = body(&message)
        if let message {
            defer { Binding.free(message) }
            throw libraryError(name, -1, String(cString: message))
        }
        return result
    }

    /// Runs `body` with the open library handle (see `withOpenHandle`).
    private func withDatabase<T>(_ body: (Binding.Database) throws -> T) throws -> T {
        try withOpenHandle { try body(database!) }
    }

    func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        try withDatabase { database in
            try checkKey(key)
            var length = 0
            let found = try key.withUnsafeBytes { key in
                try call("get") { Binding.get(database, readOptions, key, &length, $0) }
            }
            guard let found else { return false }
            defer { Binding.free(found) }
            value.removeAll(keepingCapacity: true)
            value.append(contentsOf: UnsafeRawBufferPointer(start: found, count: length))
            return true
        }
    }

    func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try withDatabase { database in
            try checkWrite(key, value)
            try key.withUnsafeBytes { key in
                try value.withUnsafeBytes { value in
                    try call("put") { Binding.put(database, writeOptions, key, value, $0) }
                }
            }
            metrics.addUserBytes(key.count + value.count)
        }
    }

    func delete(_ key: [UInt8]) throws {
        try withDatabase { database in
            try checkKey(key)
            try key.withUnsafeBytes { key in try call("delete") { Binding.delete(database, writeOptions, key, $0) } }
            metrics.addUserBytes(key.count)
        }
    }

    func apply(_ batch: WriteBatch) throws {
        try withDatabase { database in
            try checkBatch(batch)
            let libraryBatch = Binding.makeBatch()
            defer { Binding.destroyBatch(libraryBatch) }
            for operation in batch.operations {
                switch operation {
                case let .put(key, value):
                    key.withUnsafeBytes { key in value.withUnsafeBytes { value in Binding.batchPut(libraryBatch, key, value) } }
                case let .delete(key):
                    key.withUnsafeBytes { Binding.batchDelete(libraryBatch, $0) }
                }
            }
            try call("write") { Binding.write(database, writeOptions, libraryBatch, $0) }
            metrics.addUserBytes(batch.userBytes)
        }
    }

    @discardableResult
    func scan(from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try withDatabase { database in
            guard limit > 0 else { return 0 }
            let iterator = Binding.makeIterator(database, readOptions)
            defer { Binding.destroyIterator(iterator) }
            start.withUnsafeBytes { Binding.seek(iterator, $0) }
            var visited = 0
            while visited < limit && Binding.isValid(iterator) {
                try body(Binding.key(iterator), Binding.value(iterator))
                visited += 1
                Binding.next(iterator)
            }
            try call("iterate") { Binding.iteratorError(iterator, $0) }
            return visited
        }
    }

    func sync() throws {
        try withDatabase { database in
            try call("sync") { Binding.sync(database, $0) }
        }
    }

    func compact() throws {
        try withDatabase { database in
            metrics.measure("compaction", blockingWriters: true) {
                Binding.compactAll(database)
                return ((), 0, 0, "compact_range over all keys")
            }
        }
    }

    /// Polls the library's maintenance properties until no flush or compaction is due or running,
    /// so counters read next include the work the run set off.
    func waitForMaintenance() throws {
        guard !Binding.pendingMaintenanceProperties.isEmpty else { return }
        let deadline = MonotonicClock.now() + 600_000_000_000
        while MonotonicClock.now() < deadline {
            let busy = try withDatabase { database in
                Binding.pendingMaintenanceProperties.contains { name in
                    guard let value = Binding.property(database, name) else { return false }
                    defer { Binding.free(value) }
                    return Int(String(cString: value).filter(\.isNumber)) ?? 0 != 0
                }
            }
            if !busy { return }
            usleep(5_000)
        }
    }

    func close() throws {
        stopIntervalSync()
        try withExclusiveHandle {
            guard let database else { return }
            isOpen = false
            _ = try? call("sync") { Binding.sync(database, $0) }
            Binding.close(database)
            self.database = nil
            releaseAfterClose?()
            releaseAfterClose = nil
            releaseDirectory()
        }
    }

    /// Bytes on disk only: the libraries' key counts and live sizes are estimates, and a store's
    /// statistics are exact or absent.
    func statistics() throws -> StoreStatistics {
        try withOpenHandle {
            var statistics = try directoryStatistics()
            if let counts = Binding.cacheCounts(libraryOptions) {
                statistics.cacheHits = counts.hits
                statistics.cacheMisses = counts.misses
            }
            return statistics
        }
    }
}
#endif
