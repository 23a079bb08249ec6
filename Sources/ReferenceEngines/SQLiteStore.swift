#if ReferenceEngines
import CSQLite
import StoreCore

/// `sqlite`: one `WITHOUT ROWID` table of BLOB keys and values in WAL journal mode, with prepared
/// statements. SQLite compares BLOBs with memcmp, shorter first — storebench's key order.
///
/// Threads: a call borrows an idle connection from a pool (opening one when none is idle), so
/// each thread in effect has its own connection, as SQLite recommends; in WAL mode readers run
/// beside the one writer SQLite admits at a time.
final class SQLiteStore: ReferenceStoreBase, Store, @unchecked Sendable {
    static let descriptor = EngineDescriptor(
        name: "sqlite", strategy: "B-tree in one file (SQLite, WAL)",
        summary: "reference: libsqlite3, WITHOUT ROWID table of BLOBs, prepared statements, a connection per thread",
        isPersistent: true, isReference: true
    ) { directory, options in try SQLiteStore(directory: directory, options: options) }

    var engineName: String { "sqlite" }
    private var path = ""
    private let synchronous: String
    /// Idle connections; guarded by `poolLock`.
    private var idle: [SQLiteConnection] = []
    private var all: [SQLiteConnection] = []
    private let poolLock = Lock()

    init(directory: String, options: StoreOptions) throws {
        // always: the WAL is synced at every commit; interval and none: at checkpoints (interval
        // also checkpoints every interval).
        synchronous = options.durability == .always ? "FULL" : (options.durability == .interval ? "NORMAL" : "OFF")
        try super.init(name: "sqlite", directory: directory, options: options)
        path = self.directory.path(of: "kv.sqlite")
        let first = try openConnection(createTable: true)
        idle.append(first)
        all.append(first)
        startIntervalSync(options) { [weak self] in try? self?.withConnection { try $0.execute("PRAGMA wal_checkpoint(PASSIVE)") } }
    }

    deinit {
        if isOpen { try? close() }
    }

    private func openConnection(createTable: Bool) throws -> SQLiteConnection {
        try SQLiteConnection(path: path, synchronous: synchronous, createTable: createTable) { [name, directory] call, code, message in
            .library(name: "\(name) \(call)", code: code, message: message, path: directory.path)
        }
    }

    /// Runs `body` on a connection no other thread is using.
    private func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try withOpenHandle {
            let connection = try poolLock.withLock { () throws -> SQLiteConnection in
                if let connection = idle.popLast() { return connection }
                let connection = try openConnection(createTable: false)
                all.append(connection)
                return connection
            }
            defer { poolLock.withLock { idle.append(connection) } }
            return try body(connection)
        }
    }

    func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        try checkKey(key)
        return try withConnection { connection in
            let statement = connection.getStatement
            defer { sqlite3_reset(statement); sqlite3_clear_bindings(statement) }
            return try key.withUnsafeBytes { key in
                connection.bind(statement, 1, key)
                let code = sqlite3_step(statement)
                if code == SQLITE_DONE { return false }
                guard code == SQLITE_ROW else { throw libraryError("get", code, connection.lastMessage) }
                let count = Int(sqlite3_column_bytes(statement, 0))
                value.removeAll(keepingCapacity: true)
                if count > 0, let blob = sqlite3_column_blob(statement, 0) {
                    value.append(contentsOf: UnsafeRawBufferPointer(start: blob, count: count))
                }
                return true
            }
        }
    }

    func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try checkWrite(key, value)
        try withConnection { try $0.write(key, value) }
        metrics.addUserBytes(key.count + value.count)
    }

    func delete(_ key: [UInt8]) throws {
        try checkKey(key)
        try withConnection { try $0.remove(key) }
        metrics.addUserBytes(key.count)
    }

    func apply(_ batch: WriteBatch) throws {
        try checkBatch(batch)
        try withConnection { connection in
            // IMMEDIATE takes the write lock up front, so the transaction never has to upgrade
            // a read lock (which SQLite refuses without waiting).
            try connection.execute("BEGIN IMMEDIATE")
            do {
                for operation in batch.operations {
                    switch operation {
                    case let .put(key, value): try connection.write(key, value)
                    case let .delete(key): try connection.remove(key)
                    }
                }
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
        metrics.addUserBytes(batch.userBytes)
    }

    @discardableResult
    func scan(from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try withConnection { connection in
            guard limit > 0 else { return 0 }
            let statement = connection.scanStatement
            defer { sqlite3_reset(statement); sqlite3_clear_bindings(statement) }
            // One statement is one read transaction: the scan sees one snapshot.
            return try start.withUnsafeBytes { start in
                connection.bind(statement, 1, start)
                sqlite3_bind_int64(statement, 2, Int64(min(limit, Int(Int64.max))))
                var visited = 0
                while true {
                    let code = sqlite3_step(statement)
                    if code == SQLITE_DONE { break }
                    guard code == SQLITE_ROW else { throw libraryError("scan", code, connection.lastMessage) }
                    let key = UnsafeRawBufferPointer(start: sqlite3_column_blob(statement, 0), count: Int(sqlite3_column_bytes(statement, 0)))
                    let value = UnsafeRawBufferPointer(start: sqlite3_column_blob(statement, 1), count: Int(sqlite3_column_bytes(statement, 1)))
                    try body(key, value)
                    visited += 1
                }
                return visited
            }
        }
    }

    func sync() throws {
        try withConnection { try $0.execute("PRAGMA wal_checkpoint(FULL)") }
    }

    func compact() throws {
        // VACUUM rewrites the file: no other connection may be in a call meanwhile.
        try withExclusiveHandle {
            let connection = poolLock.withLock { idle.last }!
            try metrics.measure("vacuum", blockingWriters: true) {
                try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                try connection.execute("VACUUM")
                return ((), 0, 0, "VACUUM")
            }
        }
    }

    func close() throws {
        stopIntervalSync()
        try withExclusiveHandle {
            isOpen = false
            let connections = poolLock.withLock { () -> [SQLiteConnection] in
                defer { all.removeAll(); idle.removeAll() }
                return all
            }
            // The last connection to close checkpoints the WAL into the database file.
            try? connections.first?.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for connection in connections { connection.close() }
            releaseDirectory()
        }
    }

    func statistics() throws -> StoreStatistics {
        try withConnection { connection in
            var statistics = try directoryStatistics()
            // Pages in use and on the freelist: SQLite's own view of live and dead space.
            if let pages = try connection.pragma("page_count"), let free = try connection.pragma("freelist_count"), let size = try connection.pragma("page_size") {
                statistics.liveBytes = (pages - free) * size
                statistics.deadBytes = free * size
            }
            // The page cache of every connection (each has its own): hits and misses so far.
            let connections = poolLock.withLock { all }
            var hits = 0, misses = 0
            for each in connections {
                hits += each.status(SQLiteConnection.cacheHitStatus)
                misses += each.status(SQLiteConnection.cacheMissStatus)
            }
            statistics.cacheHits = hits
            statistics.cacheMisses = misses
            return statistics
        }
    }
}
#endif
