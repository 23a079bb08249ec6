#if ReferenceEngines
import CSQLite
import StoreCore

/// `sqlite`: one `WITHOUT ROWID` table of BLOB keys and values in WAL journal mode, with prepared
/// statements. SQLite compares BLOBs with memcmp, shorter first — storebench's key order.
final class SQLiteStore: ReferenceStoreBase, Store, @unchecked Sendable {
    static let descriptor = EngineDescriptor(
        name: "sqlite", strategy: "B-tree in one file (SQLite, WAL)",
        summary: "reference: libsqlite3, WITHOUT ROWID table of BLOBs, prepared statements",
        isPersistent: true, isReference: true
    ) { directory, options in try SQLiteStore(directory: directory, options: options) }

    var engineName: String { "sqlite" }
    private var database: OpaquePointer?
    private var getStatement: OpaquePointer?
    private var putStatement: OpaquePointer?
    private var deleteStatement: OpaquePointer?
    private var scanStatement: OpaquePointer?

    init(directory: String, options: StoreOptions) throws {
        try super.init(name: "sqlite", directory: directory, options: options)
        let path = self.directory.path(of: "kv.sqlite")
        var handle: OpaquePointer?
        let opened = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil)
        database = handle
        guard opened == SQLITE_OK else {
            defer { sqlite3_close_v2(handle) }
            throw libraryError("open", opened, String(cString: sqlite3_errmsg(handle)))
        }
        // always: the WAL is synced at every commit; interval and none: at checkpoints (interval
        // also checkpoints every interval).
        let synchronous = options.durability == .always ? "FULL" : (options.durability == .interval ? "NORMAL" : "OFF")
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=\(synchronous)")
        try execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        getStatement = try prepare("SELECT v FROM kv WHERE k = ?1")
        putStatement = try prepare("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
        deleteStatement = try prepare("DELETE FROM kv WHERE k = ?1")
        scanStatement = try prepare("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")
        startIntervalSync(options) { [weak self] in try? self?.checkpoint("PASSIVE") }
    }

    deinit {
        if isOpen { try? close() }
    }

    private func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(database, sql, nil, nil, &message)
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw libraryError(sql, code, text)
        }
    }

    private func prepare(_ sql: String) throws -> OpaquePointer? {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK else { throw libraryError("prepare", code, String(cString: sqlite3_errmsg(database))) }
        return statement
    }

    /// Binds `bytes` as a BLOB (an empty one is a zero-length BLOB, not NULL).
    private func bind(_ statement: OpaquePointer?, _ index: Int32, _ bytes: UnsafeRawBufferPointer) {
        if bytes.isEmpty {
            sqlite3_bind_zeroblob(statement, index, 0)
        } else {
            sqlite3_bind_blob(statement, index, bytes.baseAddress, Int32(bytes.count), nil)
        }
    }

    /// Runs a statement that returns no rows.
    private func step(_ statement: OpaquePointer?, _ call: String) throws {
        defer { sqlite3_reset(statement); sqlite3_clear_bindings(statement) }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else { throw libraryError(call, code, String(cString: sqlite3_errmsg(database))) }
    }

    private func checkpoint(_ mode: String) throws {
        try execute("PRAGMA wal_checkpoint(\(mode))")
    }

    func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        try lock.withLock {
            try checkOpen()
            try checkKey(key)
            defer { sqlite3_reset(getStatement); sqlite3_clear_bindings(getStatement) }
            return try key.withUnsafeBytes { key in
                bind(getStatement, 1, key)
                let code = sqlite3_step(getStatement)
                if code == SQLITE_DONE { return false }
                guard code == SQLITE_ROW else { throw libraryError("get", code, String(cString: sqlite3_errmsg(database))) }
                let count = Int(sqlite3_column_bytes(getStatement, 0))
                value.removeAll(keepingCapacity: true)
                if count > 0, let blob = sqlite3_column_blob(getStatement, 0) {
                    value.append(contentsOf: UnsafeRawBufferPointer(start: blob, count: count))
                }
                return true
            }
        }
    }

    private func write(_ key: [UInt8], _ value: [UInt8]) throws {
        try key.withUnsafeBytes { key in
            try value.withUnsafeBytes { value in
                bind(putStatement, 1, key)
                bind(putStatement, 2, value)
                try step(putStatement, "put")
            }
        }
    }

    private func remove(_ key: [UInt8]) throws {
        try key.withUnsafeBytes { key in
            bind(deleteStatement, 1, key)
            try step(deleteStatement, "delete")
        }
    }

    func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try lock.withLock {
            try checkOpen()
            try checkWrite(key, value)
            try write(key, value)
            metrics.addUserBytes(key.count + value.count)
        }
    }

    func delete(_ key: [UInt8]) throws {
        try lock.withLock {
            try checkOpen()
            try checkKey(key)
            try remove(key)
            metrics.addUserBytes(key.count)
        }
    }

    func apply(_ batch: WriteBatch) throws {
        try lock.withLock {
            try checkOpen()
            try checkBatch(batch)
            try execute("BEGIN IMMEDIATE")
            do {
                for operation in batch.operations {
                    switch operation {
                    case let .put(key, value): try write(key, value)
                    case let .delete(key): try remove(key)
                    }
                }
                try execute("COMMIT")
            } catch {
                try? execute("ROLLBACK")
                throw error
            }
            metrics.addUserBytes(batch.userBytes)
        }
    }

    @discardableResult
    func scan(from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try lock.withLock {
            try checkOpen()
            guard limit > 0 else { return 0 }
            defer { sqlite3_reset(scanStatement); sqlite3_clear_bindings(scanStatement) }
            return try start.withUnsafeBytes { start in
                bind(scanStatement, 1, start)
                sqlite3_bind_int64(scanStatement, 2, Int64(min(limit, Int(Int64.max))))
                var visited = 0
                while true {
                    let code = sqlite3_step(scanStatement)
                    if code == SQLITE_DONE { break }
                    guard code == SQLITE_ROW else { throw libraryError("scan", code, String(cString: sqlite3_errmsg(database))) }
                    let key = UnsafeRawBufferPointer(start: sqlite3_column_blob(scanStatement, 0), count: Int(sqlite3_column_bytes(scanStatement, 0)))
                    let value = UnsafeRawBufferPointer(start: sqlite3_column_blob(scanStatement, 1), count: Int(sqlite3_column_bytes(scanStatement, 1)))
                    try body(key, value)
                    visited += 1
                }
                return visited
            }
        }
    }

    func sync() throws {
        try lock.withLock {
            try checkOpen()
            try checkpoint("FULL")
        }
    }

    func compact() throws {
        try lock.withLock {
            try checkOpen()
            try metrics.measure("vacuum", blockingWriters: true) {
                try checkpoint("TRUNCATE")
                try execute("VACUUM")
                return ((), 0, 0, "VACUUM")
            }
        }
    }

    func close() throws {
        stopIntervalSync()
        try lock.withLock {
            try checkOpen()
            isOpen = false
            for statement in [getStatement, putStatement, deleteStatement, scanStatement] { sqlite3_finalize(statement) }
            try? checkpoint("TRUNCATE")
            sqlite3_close_v2(database)
            releaseDirectory()
        }
    }

    func statistics() throws -> StoreStatistics {
        try lock.withLock {
            try checkOpen()
            var statistics = try directoryStatistics()
            // Pages in use and on the freelist: SQLite's own view of live and dead space.
            if let pages = try pragma("page_count"), let free = try pragma("freelist_count"), let size = try pragma("page_size") {
                statistics.liveBytes = (pages - free) * size
                statistics.deadBytes = free * size
            }
            return statistics
        }
    }

    private func pragma(_ name: String) throws -> Int? {
        let statement = try prepare("PRAGMA \(name)")
        defer { sqlite3_finalize(statement) }
        return sqlite3_step(statement) == SQLITE_ROW ? Int(sqlite3_column_int64(statement, 0)) : nil
    }
}
#endif
