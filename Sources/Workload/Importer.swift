import StoreCore

/// The input formats `workload convert` and replay read. Any of them may be zstd- or
/// gzip-compressed (recognised by magic bytes).
public enum InputFormat: String, Sendable, CaseIterable {
    /// Twitter's cache-trace CSV (twitter/cache-trace).
    case twitter
    /// Meta CacheLib's KV-trace CSV.
    case cachelib
    /// RocksDB `trace_analyzer -convert_to_human_readable_trace` output.
    case rocksdb
    /// RocksDB's binary query trace (`DB::StartTrace`, `db_bench -trace_file`).
    case rocksdbTrace = "rocksdb-trace"
    /// libCacheSim's `oracleGeneral` binary cache trace.
    case oracleGeneral = "oraclegeneral"
    /// storebench's JSON Lines.
    case jsonl
    /// storebench's binary trace.
    case trace

    /// The binary format `source` starts like (a storebench or RocksDB trace), if any.
    public static func recognise(_ path: String) -> InputFormat? {
        if TraceReader.isTrace(path: path) { return .trace }
        if let source = try? ByteSource.open(path), RocksDBTraceReader.isRocksDBTrace(source) { return .rocksdbTrace }
        // oracleGeneral has no magic: libCacheSim's files are named `….oracleGeneral…`.
        if path.lowercased().contains("oraclegeneral") { return .oracleGeneral }
        return nil
    }
}

/// How an importer maps and tolerates its input.
public struct ImportOptions: Sendable {
    /// Bad records or lines skipped (counted) before the import fails; `Int.max`: any number.
    public var skipBad = 0
    /// Entries a RocksDB iterator seek reads (the trace does not record it).
    public var scanCount = 10
    /// What a cache trace's requests become (oracleGeneral).
    public var cache: CacheMapping = .reads
    /// What a RocksDB merge becomes (binary RocksDB traces).
    public var merge: MergeMapping = .put

    public init(skipBad: Int = 0, scanCount: Int = 10, cache: CacheMapping = .reads, merge: MergeMapping = .put) {
        self.skipBad = skipBad
        self.scanCount = scanCount
        self.cache = cache
        self.merge = merge
    }
}

/// Streams operations out of a production trace in constant memory (compressed or not). Each
/// format's columns and op mapping are documented in Workloads/README.md. A malformed line or
/// record is an error naming `file:line` or the byte offset and the reason — or, within
/// `options.skipBad`, is counted and skipped.
public struct Importer: OperationSource {
    public let format: InputFormat
    public let header: TraceHeader
    /// Lines or records skipped as malformed, and the first few with their location.
    public var skipped: Int { bad.count + (oracle?.bad.count ?? 0) + (rocksTrace?.bad.count ?? 0) }
    public var skippedExamples: [String] { bad.examples + (oracle?.bad.examples ?? []) + (rocksTrace?.bad.examples ?? []) }
    private var bad: BadRecords
    private let scanCount: Int
    private var lines: LineReader?
    private var trace: TraceReader?
    private var oracle: OracleGeneralReader?
    private var rocksTrace: RocksDBTraceReader?
    private var pending: [WorkloadOperation] = []
    private var pendingIndex = 0
    /// CacheLib: column index of each known column name.
    private var columns: [String: Int] = [:]

    /// Whether the format records time in whole seconds (replay then spreads each second's
    /// operations over it, unless asked to keep the bursts: `BurstSpreader`).
    public var hasSecondTimestamps: Bool { format == .twitter || format == .cachelib || format == .oracleGeneral }

    /// - Parameter scanCount: entries a RocksDB iterator seek reads (the trace does not record it).
    public init(path: String, format: InputFormat, skipInvalid: Bool = false, scanCount: Int = 10,
                fileSystem: any FileSystem = PosixFileSystem()) throws {
        try self.init(path: path, format: format, options: ImportOptions(skipBad: skipInvalid ? Int.max : 0, scanCount: scanCount),
                      fileSystem: fileSystem)
    }

    public init(path: String, format: InputFormat, options: ImportOptions, fileSystem: any FileSystem = PosixFileSystem()) throws {
        self.format = format
        bad = BadRecords(limit: options.skipBad)
        scanCount = options.scanCount
        let source = try ByteSource.open(path, fileSystem: fileSystem)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var header = TraceHeader([("source", "\(format.rawValue):\(name)")])
        if let compression = source.compression { header["compression"] = compression }
        switch format {
        case .trace:
            let reader = try TraceReader(source: source)
            trace = reader
            self.header = reader.header
            return
        case .oracleGeneral:
            oracle = OracleGeneralReader(source: source, mapping: options.cache, bad: bad)
            header["cache_mapping"] = options.cache.rawValue
        case .rocksdbTrace:
            let reader = try RocksDBTraceReader(source: source, scanCount: options.scanCount, merge: options.merge, bad: bad)
            header["rocksdb_trace_version"] = String(reader.traceVersion)
            header["rocksdb_version"] = reader.rocksDBVersion
            rocksTrace = reader
        case .twitter, .cachelib, .rocksdb, .jsonl:
            lines = LineReader(source: source)
        }
        self.header = header
        if format == .cachelib { try readCacheLibHeader() }
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        if trace != nil { return try trace!.next(into: &operation) }
        if oracle != nil { return try oracle!.next(into: &operation) }
        if rocksTrace != nil { return try rocksTrace!.next(into: &operation) }
        while pendingIndex >= pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
            guard var reader = lines else { return false }
            lines = nil
            let format = self.format
            let columns = self.columns
            let scanCount = self.scanCount
            var parsed: [WorkloadOperation] = []
            let result: Result<Void, Reason>?
            do {
                result = try reader.nextLine { line in
                    if line.isEmpty || (format != .jsonl && line.allSatisfy({ $0 == 32 || $0 == 9 })) { return .success(()) }
                    do {
                        switch format {
                        case .twitter: try Self.parseTwitter(line, into: &parsed)
                        case .cachelib: try Self.parseCacheLib(line, columns: columns, into: &parsed)
                        case .rocksdb: try Self.parseRocksDB(line, scanCount: scanCount, into: &parsed)
                        case .jsonl:
                            do { parsed.append(try JSONLines.decode(line)) } catch let reason as JSONLines.Reason {
                                throw Reason(reason.description)
                            }
                        case .trace, .oracleGeneral, .rocksdbTrace: break
                        }
                        return .success(())
                    } catch let reason as Reason {
                        return .failure(reason)
                    }
                }
            } catch {
                lines = reader
                throw error
            }
            lines = reader
            guard let result else { return false }
            if case let .failure(reason) = result {
                try bad.skip(.malformedLine(file: reader.path, line: reader.lineNumber, reason: reason.description))
                continue
            }
            pending = parsed
        }
        operation = pending[pendingIndex]
        pendingIndex += 1
        return true
    }

    struct Reason: Error {
        let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: Twitter

    /// `timestamp,key,key size,value size,client id,operation,TTL` — no header. Timestamps are
    /// seconds; a key may itself contain commas (the five last columns are fixed).
    static func parseTwitter(_ line: UnsafeRawBufferPointer, into operations: inout [WorkloadOperation]) throws {
        let fields = Fields.split(line, separator: UInt8(ascii: ","))
        guard fields.count >= 7 else { throw Reason("expected 7 comma-separated columns, found \(fields.count)") }
        guard let seconds = Fields.integer(fields[0]) else { throw Reason("timestamp `\(Fields.string(fields[0]))` is not an integer") }
        let tail = fields.count - 5
        let keyEnd = fields[tail - 1].baseAddress! + fields[tail - 1].count
        let key = Array(UnsafeRawBufferPointer(start: fields[1].baseAddress, count: keyEnd - fields[1].baseAddress!))
        guard !key.isEmpty, key.count <= StoreLimits.maxKeySize else { throw Reason("empty or over-long key") }
        guard Fields.integer(fields[tail]) != nil else { throw Reason("key size `\(Fields.string(fields[tail]))` is not an integer") }
        guard let valueSize = Fields.integer(fields[tail + 1]), valueSize <= StoreLimits.maxValueSize else {
            throw Reason("value size `\(Fields.string(fields[tail + 1]))` is not an integer up to 64 MiB")
        }
        let timestamp = UInt64(seconds) * 1_000_000
        switch Fields.string(fields[tail + 3]) {
        case "get", "gets":
            operations.append(WorkloadOperation(.get, key: key, timestamp: timestamp))
        case "set", "add", "replace", "cas", "append", "prepend", "incr", "decr":
            operations.append(WorkloadOperation(.put, key: key, valueSize: valueSize, timestamp: timestamp))
        case "delete":
            operations.append(WorkloadOperation(.delete, key: key, timestamp: timestamp))
        case let other:
            throw Reason("unknown operation `\(other)`")
        }
    }

    // MARK: CacheLib

    private mutating func readCacheLibHeader() throws {
        guard var reader = lines else { return }
        let names = try reader.nextLine { line in Fields.split(line, separator: UInt8(ascii: ",")).map { Fields.string($0).lowercased() } }
        lines = reader
        guard let names else { throw WorkloadError.malformedLine(file: reader.path, line: 1, reason: "empty file: a CacheLib trace starts with a header row") }
        for (index, name) in names.enumerated() { columns[name.trimmingSpaces()] = index }
        for required in ["key", "op"] where columns[required] == nil {
            throw WorkloadError.malformedLine(file: reader.path, line: 1, reason: "header row has no `\(required)` column (found: \(names.joined(separator: ", ")))")
        }
    }

    /// Columns by name: `key`, `op` (GET, SET, DELETE, GET_LEASE, SET_LEASE), `size` (value size),
    /// `op_count` (the operation repeats), `key_size` (keys padded with `0` to it), `op_time`
    /// (seconds).
    static func parseCacheLib(_ line: UnsafeRawBufferPointer, columns: [String: Int], into operations: inout [WorkloadOperation]) throws {
        let fields = Fields.split(line, separator: UInt8(ascii: ","))
        func field(_ name: String) -> UnsafeRawBufferPointer? {
            columns[name].flatMap { $0 < fields.count ? fields[$0] : nil }
        }
        guard let keyField = field("key"), !keyField.isEmpty else { throw Reason("missing key") }
        guard let opField = field("op") else { throw Reason("missing op") }
        var key = Array(keyField)
        if let sizeField = field("key_size"), !sizeField.isEmpty {
            guard let keySize = Fields.integer(sizeField), keySize <= StoreLimits.maxKeySize else {
                throw Reason("key_size `\(Fields.string(sizeField))` is not an integer up to 64 KiB")
            }
            if key.count < keySize { key += repeatElement(UInt8(ascii: "0"), count: keySize - key.count) }
        }
        guard key.count <= StoreLimits.maxKeySize else { throw Reason("key exceeds 64 KiB") }
        var valueSize = 0
        if let sizeField = field("size"), !sizeField.isEmpty {
            guard let size = Fields.integer(sizeField), size <= StoreLimits.maxValueSize else {
                throw Reason("size `\(Fields.string(sizeField))` is not an integer up to 64 MiB")
            }
            valueSize = size
        }
        var repeats = 1
        if let countField = field("op_count"), !countField.isEmpty {
            guard let count = Fields.integer(countField), count >= 1, count <= 1_000_000 else {
                throw Reason("op_count `\(Fields.string(countField))` is not an integer from 1 to 1,000,000")
            }
            repeats = count
        }
        var timestamp: UInt64?
        if let timeField = field("op_time"), !timeField.isEmpty {
            guard let seconds = Fields.integer(timeField) else { throw Reason("op_time `\(Fields.string(timeField))` is not an integer") }
            timestamp = UInt64(seconds) * 1_000_000
        }
        let operation: WorkloadOperation
        switch Fields.string(opField).uppercased() {
        case "GET", "GET_LEASE": operation = WorkloadOperation(.get, key: key, timestamp: timestamp)
        case "SET", "SET_LEASE": operation = WorkloadOperation(.put, key: key, valueSize: valueSize, timestamp: timestamp)
        case "DELETE": operation = WorkloadOperation(.delete, key: key, timestamp: timestamp)
        case let other: throw Reason("unknown op `\(other)`")
        }
        for _ in 0..<repeats { operations.append(operation) }
    }

    // MARK: RocksDB

    /// `hexkey type cf value_size timestamp_us`, space-separated. Types: 0 get, 1 put, 2 delete,
    /// 3 single delete, 5 merge (read-modify-write), 6/7 iterator seek (scan of `scanCount`),
    /// 8 multiget (get); 4 (range delete) is not supported.
    static func parseRocksDB(_ line: UnsafeRawBufferPointer, scanCount: Int, into operations: inout [WorkloadOperation]) throws {
        let fields = Fields.split(line, separator: UInt8(ascii: " ")).filter { !$0.isEmpty }
        guard fields.count >= 5 else { throw Reason("expected 5 space-separated columns, found \(fields.count)") }
        guard let key = Fields.hex(fields[0]), key.count <= StoreLimits.maxKeySize else {
            throw Reason("key `\(Fields.string(fields[0]))` is not hexadecimal (or exceeds 64 KiB)")
        }
        guard let type = Fields.integer(fields[1]) else { throw Reason("type `\(Fields.string(fields[1]))` is not an integer") }
        guard Fields.integer(fields[2]) != nil else { throw Reason("column family `\(Fields.string(fields[2]))` is not an integer") }
        guard let valueSize = Fields.integer(fields[3]), valueSize <= StoreLimits.maxValueSize else {
            throw Reason("value size `\(Fields.string(fields[3]))` is not an integer up to 64 MiB")
        }
        guard let timestamp = Fields.integer(fields[4]) else { throw Reason("timestamp `\(Fields.string(fields[4]))` is not an integer") }
        let time = UInt64(timestamp)
        switch type {
        case 0, 8: operations.append(WorkloadOperation(.get, key: key, timestamp: time))
        case 1: operations.append(WorkloadOperation(.put, key: key, valueSize: valueSize, timestamp: time))
        case 2, 3: operations.append(WorkloadOperation(.delete, key: key, timestamp: time))
        case 5: operations.append(WorkloadOperation(.readModifyWrite, key: key, valueSize: valueSize, timestamp: time))
        case 6, 7: operations.append(WorkloadOperation(.scan, key: key, scanCount: scanCount, timestamp: time))
        case 4: throw Reason("range deletes (type 4) are not supported")
        default: throw Reason("unknown operation type \(type)")
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var slice = self[...]
        while slice.first == " " || slice.first == "\t" { slice = slice.dropFirst() }
        while slice.last == " " || slice.last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
