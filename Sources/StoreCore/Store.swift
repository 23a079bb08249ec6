/// A key-value storage engine. Keys and values are bytes; keys order by unsigned byte-wise
/// comparison. Opening a directory recovers from a crash; a second open of the same directory
/// fails with `StoreError.locked`.
///
/// Concurrency contract: any number of threads may call any method at once, on one instance.
/// - A read (`get`, `scan`) sees only committed state: never a value that was not written, never
///   part of a batch without the rest of it (a scan sees each batch wholly or not at all).
/// - A commit (`put`, `delete`, `apply`) acknowledged to one thread — its call returned — is
///   visible to every read that starts after that return, on any thread.
/// - Writers on the same key commit in some serial order; the store's final state is that of
///   applying the acknowledged commits in that order.
/// - `sync()` makes durable every commit acknowledged before it was called.
/// - `close()` may race with other calls: calls that begin after it throw `StoreError.closed`;
///   calls in flight either finish or throw `closed`, never crash or corrupt the store.
/// Each engine reaches this with the design its strategy's best implementation uses (see
/// DESIGN.md), not with one lock around every call: `log` one writer on the active segment
/// beside parallel readers, `cow` readers on a committed root beside one writer, `lsm` a
/// group-commit writer queue beside readers on memtables and a referenced version.
public protocol Store: AnyObject, Sendable {
    /// The registry name of the engine (`memory`, `log`, `cow`, `lsm`).
    var engineName: String { get }
    /// Counters and maintenance events, safe to read from another thread while the store runs.
    var metrics: StoreMetrics { get }

    /// Looks `key` up. On a hit the value replaces the contents of `value` (its capacity is reused,
    /// so a caller that keeps one buffer reads without allocating) and the result is `true`.
    func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool
    func put(_ key: [UInt8], _ value: [UInt8]) throws
    /// Removes `key`; removing a missing key is not an error.
    func delete(_ key: [UInt8]) throws
    /// Applies every operation of `batch` or none of them, also across a crash.
    func apply(_ batch: WriteBatch) throws
    /// Visits up to `limit` entries with keys ≥ `start` in ascending key order. The buffers are
    /// valid only during the call. Returns the number of entries visited. `body` must not call
    /// back into the store (an engine may hold a read lock or a snapshot pin while it runs).
    @discardableResult
    func scan(
        from start: [UInt8], limit: Int,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int
    /// Makes every commit so far durable, whatever the durability option.
    func sync() throws
    /// Runs the engine's maintenance (compaction) now, to completion.
    func compact() throws
    /// Releases files and the directory lock. Later calls throw `StoreError.closed`.
    func close() throws
    /// Sizes the engine knows about itself: files, bytes on disk, live and dead bytes.
    func statistics() throws -> StoreStatistics
    /// Waits until background maintenance already due has finished, so counters read next do not
    /// depend on thread timing. Engines without background work return at once.
    func waitForMaintenance() throws
    /// The engine's settings in effect (defaults included), by the names `--set` takes, so results
    /// say what each engine ran with. Empty for an engine without settings.
    var effectiveSettings: [String: String] { get }
}

extension Store {
    public func waitForMaintenance() throws {}
    public var effectiveSettings: [String: String] { [:] }

    /// The value stored under `key`, or `nil`.
    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        var value: [UInt8] = []
        return try get(key, into: &value) ? value : nil
    }

    /// Up to `limit` entries with keys ≥ `start`, ascending.
    public func scan(from start: [UInt8], limit: Int) throws -> [(key: [UInt8], value: [UInt8])] {
        var result: [(key: [UInt8], value: [UInt8])] = []
        result.reserveCapacity(Swift.min(limit, 1024))
        try scan(from: start, limit: limit) { key, value in
            result.append((Array(key), Array(value)))
        }
        return result
    }
}

/// What an engine knows about its own size. Optional figures are `nil` where the engine cannot
/// tell (the runner then measures what it can itself).
public struct StoreStatistics: Sendable, Equatable {
    /// Files in the store directory.
    public var fileCount: Int
    /// Sum of file sizes (`st_size`).
    public var diskBytes: Int
    /// Space the files occupy on the device (`st_blocks × 512`).
    public var allocatedBytes: Int
    /// Bytes of the current keys and values as the engine stores them.
    public var liveBytes: Int?
    /// Bytes in files that no longer hold current data (overwritten, deleted, freed).
    public var deadBytes: Int?
    /// Number of live keys, where the engine knows it without a scan.
    public var keyCount: Int?
    /// Lookups of the engine's own block or chunk cache that found, and did not find, what they
    /// looked for, since the store opened (`nil`: the engine does not count them).
    public var cacheHits: Int?
    public var cacheMisses: Int?

    public init(
        fileCount: Int = 0, diskBytes: Int = 0, allocatedBytes: Int = 0,
        liveBytes: Int? = nil, deadBytes: Int? = nil, keyCount: Int? = nil
    ) {
        self.fileCount = fileCount
        self.diskBytes = diskBytes
        self.allocatedBytes = allocatedBytes
        self.liveBytes = liveBytes
        self.deadBytes = deadBytes
        self.keyCount = keyCount
    }
}
