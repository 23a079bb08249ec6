#if ReferenceEngines
import CSQLite
import StoreCore

/// One SQLite connection with its prepared statements. SQLite's advice for threads is a connection
/// per thread: a connection is used by one thread at a time (opened `NOMUTEX`, so SQLite takes no
/// lock of its own for it), readers on other connections run beside a writer in WAL mode, and
/// writers wait for each other through the busy timeout.
final class SQLiteConnection {
    /// `SQLITE_DBSTATUS_CACHE_HIT` and `SQLITE_DBSTATUS_CACHE_MISS` (sqlite3.h).
    static let cacheHitStatus: Int32 = 7
    static let cacheMissStatus: Int32 = 8

    /// A counter of `sqlite3_db_status` since the connection opened (0 if SQLite refuses).
    func status(_ operation: Int32) -> Int {
        var current: Int32 = 0
        var highwater: Int32 = 0
        guard let database, sqlite3_db_status(database, operation, &current, &highwater, 0) == SQLITE_OK else { return 0 }
        return Int(current)
    }
    let database: OpaquePointer?
    private(set) var getStatement: OpaquePointer?
    private(set) var putStatement: OpaquePointer?
    private(set) var deleteStatement: OpaquePointer?
    private(set) var scanStatement: OpaquePointer?
    private let fail: (String, Int32, String) -> StoreError

    /// How long a writer waits for another connection's write transaction before giving up.
    static let busyTimeoutMilliseconds: Int32 = 60_000

    init(path: String, synchronous: String, createTable: Bool, fail: @escaping (String, Int32, String) -> StoreError) throws {
        self.fail = fail
        var handle: OpaquePointer?
        let opened = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        database = handle
        guard opened == SQLITE_OK else {
            defer { sqlite3_close_v2(handle) }
            throw fail("open", opened, String(cString: sqlite3_errmsg(handle)))
        }
        do {
            sqlite3_busy_timeout(handle, Self.busyTimeoutMilliseconds)
            if createTable {
                try execute("PRAGMA journal_mode=WAL")
            }
            // `synchronous` is a per-connection setting.
            try execute("PRAGMA synchronous=\(synchronous)")
            if createTable {
                try execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
            }
            getStatement = try prepare("SELECT v FROM kv WHERE k = ?1")
            putStatement = try prepare("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
            deleteStatement = try prepare("DELETE FROM kv WHERE k = ?1")
            scanStatement = try prepare("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")
        } catch {
            close()
            throw error
        }
    }

    func close() {
        for statement in [getStatement, putStatement, deleteStatement, scanStatement] { sqlite3_finalize(statement) }
        getStatement = nil; putStatement = nil; deleteStatement = nil; scanStatement = nil
        sqlite3_close_v2(database)
    }

    var lastMessage: String { String(cString: sqlite3_errmsg(database)) }

    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(database, sql, nil, nil, &message)
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw fail(sql, code, text)
        }
    }

    func prepare(_ sql: String) throws -> OpaquePointer? {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK else { throw fail("prepare", code, lastMessage) }
        return statement
    }

    /// Binds `bytes` as a BLOB (an empty one is a zero-length BLOB, not NULL).
    func bind(_ statement: OpaquePointer?, _ index: Int32, _ bytes: UnsafeRawBufferPointer) {
        if bytes.isEmpty {
            sqlite3_bind_zeroblob(statement, index, 0)
        } else {
            sqlite3_bind_blob(statement, index, bytes.baseAddress, Int32(bytes.count), nil)
        }
    }

    /// Runs a statement that returns no rows.
    func step(_ statement: OpaquePointer?, _ call: String) throws {
        defer { sqlite3_reset(statement); sqlite3_clear_bindings(statement) }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else { throw fail(call, code, lastMessage) }
    }

    func write(_ key: [UInt8], _ value: [UInt8]) throws {
        try key.withUnsafeBytes { key in
            try value.withUnsafeBytes { value in
                bind(putStatement, 1, key)
                bind(putStatement, 2, value)
                try step(putStatement, "put")
            }
        }
    }

    func remove(_ key: [UInt8]) throws {
        try key.withUnsafeBytes { key in
            bind(deleteStatement, 1, key)
            try step(deleteStatement, "delete")
        }
    }

    func pragma(_ name: String) throws -> Int? {
        let statement = try prepare("PRAGMA \(name)")
        defer { sqlite3_finalize(statement) }
        return sqlite3_step(statement) == SQLITE_ROW ? Int(sqlite3_column_int64(statement, 0)) : nil
    }
}
#endif
