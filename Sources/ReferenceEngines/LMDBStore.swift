#if ReferenceEngines
import CLMDB
import StoreCore

/// `lmdb`: a copy-on-write B+tree in one memory-mapped file (LMDB), the closest relative of
/// `cow`. LMDB takes keys of 1 to 511 bytes; every key is stored behind one constant byte, which
/// keeps the order and admits the empty key, so keys are limited to 510 bytes (a documented
/// exception to the 64 KiB limit).
final class LMDBStore: ReferenceStoreBase, Store, @unchecked Sendable {
    static let keyLimit = 510

    static let descriptor = EngineDescriptor(
        name: "lmdb", strategy: "copy-on-write B+tree, mmap (LMDB)",
        summary: "reference: liblmdb, one database, write transaction per commit",
        isPersistent: true, maxKeySize: keyLimit, isReference: true
    ) { directory, options in try LMDBStore(directory: directory, options: options) }

    var engineName: String { "lmdb" }
    private var environment: OpaquePointer?
    private var database: MDB_dbi = 0
    /// Calls `body` with the stored form of `key` — a zero byte, then the key — in a buffer of
    /// the calling thread's stack (threads call at once, so no buffer is shared).
    private func storedKey<T>(_ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        try withUnsafeTemporaryAllocation(byteCount: key.count + 1, alignment: 1) { buffer in
            buffer[0] = 0
            key.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[1...]).copyMemory(from: $0) }
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Readers LMDB admits at once: one slot per thread with a read transaction open.
    static let maxReaders: UInt32 = 1_100

    init(directory: String, options: StoreOptions) throws {
        try super.init(name: "lmdb", directory: directory, options: options, maxKeySize: Self.keyLimit)
        try check("mdb_env_create", mdb_env_create(&environment))
        // Address space only: LMDB maps the file, and grows it up to this size.
        try check("mdb_env_set_mapsize", mdb_env_set_mapsize(environment, 1 << 40))
        try check("mdb_env_set_maxreaders", mdb_env_set_maxreaders(environment, Self.maxReaders))
        // always: every commit syncs; interval and none: commits do not (interval syncs every interval).
        // MDB_NOTLS: a read transaction belongs to the call, not to the thread's reader slot.
        let flags = UInt32(options.durability == .always ? 0 : MDB_NOSYNC) | UInt32(MDB_NOTLS)
        try check("mdb_env_open", mdb_env_open(environment, self.directory.path, flags, 0o644))
        var transaction: OpaquePointer?
        try check("mdb_txn_begin", mdb_txn_begin(environment, nil, 0, &transaction))
        try check("mdb_dbi_open", mdb_dbi_open(transaction, nil, 0, &database))
        try check("mdb_txn_commit", mdb_txn_commit(transaction))
        startIntervalSync(options) { [weak self] in _ = mdb_env_sync(self?.environment, 1) }
    }

    deinit {
        if isOpen { try? close() }
        else if environment != nil { mdb_env_close(environment) }
    }

    private func check(_ call: String, _ code: Int32) throws {
        guard code == MDB_SUCCESS else { throw libraryError(call, code, String(cString: mdb_strerror(code))) }
    }

    private func value(_ bytes: UnsafeRawBufferPointer) -> MDB_val {
        MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
    }

    /// Runs `body` in a write transaction, committed when it returns.
    private func writing(_ body: (OpaquePointer?) throws -> Void) throws {
        var transaction: OpaquePointer?
        try check("mdb_txn_begin", mdb_txn_begin(environment, nil, 0, &transaction))
        do {
            try body(transaction)
        } catch {
            mdb_txn_abort(transaction)
            throw error
        }
        try check("mdb_txn_commit", mdb_txn_commit(transaction))
    }

    /// Runs `body` in a read-only transaction.
    private func reading<T>(_ body: (OpaquePointer?) throws -> T) throws -> T {
        var transaction: OpaquePointer?
        try check("mdb_txn_begin", mdb_txn_begin(environment, nil, UInt32(MDB_RDONLY), &transaction))
        defer { mdb_txn_abort(transaction) }
        return try body(transaction)
    }

    private func put(_ transaction: OpaquePointer?, _ key: [UInt8], _ data: [UInt8]) throws {
        try storedKey(key) { key in
            try data.withUnsafeBytes { data in
                var k = value(key)
                var v = value(data)
                try check("mdb_put", mdb_put(transaction, database, &k, &v, 0))
            }
        }
    }

    private func remove(_ transaction: OpaquePointer?, _ key: [UInt8]) throws {
        try storedKey(key) { key in
            var k = value(key)
            let code = mdb_del(transaction, database, &k, nil)
            if code != MDB_NOTFOUND { try check("mdb_del", code) }
        }
    }

    func get(_ key: [UInt8], into output: inout [UInt8]) throws -> Bool {
        try withOpenHandle {
            try checkKey(key)
            return try reading { transaction in
                try storedKey(key) { key in
                    var k = value(key)
                    var v = MDB_val()
                    let code = mdb_get(transaction, database, &k, &v)
                    if code == MDB_NOTFOUND { return false }
                    try check("mdb_get", code)
                    output.removeAll(keepingCapacity: true)
                    if v.mv_size > 0 { output.append(contentsOf: UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)) }
                    return true
                }
            }
        }
    }

    func put(_ key: [UInt8], _ data: [UInt8]) throws {
        try withOpenHandle {
            try checkWrite(key, data)
            try writing { try put($0, key, data) }
            metrics.addUserBytes(key.count + data.count)
        }
    }

    func delete(_ key: [UInt8]) throws {
        try withOpenHandle {
            try checkKey(key)
            try writing { try remove($0, key) }
            metrics.addUserBytes(key.count)
        }
    }

    func apply(_ batch: WriteBatch) throws {
        try withOpenHandle {
            try checkBatch(batch)
            try writing { transaction in
                for operation in batch.operations {
                    switch operation {
                    case let .put(key, data): try put(transaction, key, data)
                    case let .delete(key): try remove(transaction, key)
                    }
                }
            }
            metrics.addUserBytes(batch.userBytes)
        }
    }

    @discardableResult
    func scan(from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try withOpenHandle {
            guard limit > 0 else { return 0 }
            return try reading { transaction in
                var cursor: OpaquePointer?
                try check("mdb_cursor_open", mdb_cursor_open(transaction, database, &cursor))
                defer { mdb_cursor_close(cursor) }
                return try storedKey(start) { start in
                    var k = value(start)
                    var v = MDB_val()
                    var code = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
                    var visited = 0
                    while code == MDB_SUCCESS && visited < limit {
                        // Drop the stored form's leading byte.
                        let key = UnsafeRawBufferPointer(start: k.mv_data.map { $0 + 1 }, count: k.mv_size - 1)
                        try body(key, UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
                        visited += 1
                        code = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
                    }
                    if code != MDB_SUCCESS && code != MDB_NOTFOUND { try check("mdb_cursor_get", code) }
                    return visited
                }
            }
        }
    }

    func sync() throws {
        try withOpenHandle {
            try check("mdb_env_sync", mdb_env_sync(environment, 1))
        }
    }

    /// LMDB reuses freed pages itself and has no compaction to run.
    func compact() throws {
        try withOpenHandle {}
    }

    func close() throws {
        stopIntervalSync()
        try withExclusiveHandle {
            isOpen = false
            _ = mdb_env_sync(environment, 1)
            mdb_env_close(environment)
            environment = nil
            releaseDirectory()
        }
    }

    func statistics() throws -> StoreStatistics {
        try withOpenHandle {
            var statistics = try directoryStatistics()
            var stat = MDB_stat()
            if mdb_env_stat(environment, &stat) == MDB_SUCCESS {
                statistics.keyCount = Int(stat.ms_entries)
                statistics.liveBytes = Int(stat.ms_psize) * (Int(stat.ms_branch_pages) + Int(stat.ms_leaf_pages) + Int(stat.ms_overflow_pages))
            }
            return statistics
        }
    }
}
#endif
