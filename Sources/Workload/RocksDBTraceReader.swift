import StoreCore

/// What a RocksDB merge becomes (storebench has no merge operator).
public enum MergeMapping: String, Sendable, CaseIterable {
    /// A put of the operand's size.
    case put
    /// A read-modify-write of the operand's size.
    case rmw
    /// A bad record (skippable with `--skip-bad`).
    case error
}

/// Reads the binary query traces RocksDB writes with `DB::StartTrace` (and `db_bench
/// -trace_file`), as its trace_replay.cc defines them: records of `timestamp u64 (µs), type u8,
/// payload length u32, payload`, all little-endian, the first a header (type 1, payload starting
/// `feedcafedeadbeef` and `Trace Version: M.N`), the last a footer (type 2) when tracing was ended.
///
/// Gets become gets, write batches their puts and deletes (a batch of several as `begin` …
/// `commit`), iterator seeks and seeks-for-prev scans of `scanCount`, multigets one get per key.
/// Column families all map to the one keyspace. Trace versions before 0.2 (no payload map, no
/// multiget) are read too.
public struct RocksDBTraceReader: OperationSource {
    public let path: String
    public let scanCount: Int
    public let merge: MergeMapping
    /// The trace format version (`Trace Version: 0.2` → 2) and the RocksDB version that wrote it.
    public private(set) var traceVersion = 0
    public private(set) var rocksDBVersion = ""
    public private(set) var bad: BadRecords
    /// Whether the trace ended with RocksDB's footer record (a trace whose writer never called
    /// `EndTrace` ends at a record boundary instead).
    public private(set) var sawFooter = false
    private var window: StreamWindow
    private var offset: Int64 = 0
    private var pending: [WorkloadOperation] = []
    private var pendingIndex = 0
    private var scratch: [UInt8] = []
    private var ended = false

    static let metadataSize = 13
    static let magic = Array("feedcafedeadbeef".utf8)
    /// Payloads beyond this are taken as a damaged length field, not a record.
    static let maxPayload = 1 << 30

    public init(source: ByteSource, scanCount: Int = 10, merge: MergeMapping = .put, bad: BadRecords = BadRecords()) throws {
        path = source.path
        self.scanCount = scanCount
        self.merge = merge
        self.bad = bad
        window = StreamWindow(source: source)
        try readHeader()
    }

    /// Whether `source` starts with a RocksDB trace header record.
    public static func isRocksDBTrace(_ source: ByteSource) -> Bool {
        var window = StreamWindow(source: source, capacity: 64)
        guard (try? window.ensure(0, metadataSize + magic.count)) == true else { return false }
        return window.withBytes(0, metadataSize + magic.count) { raw in
            raw[8] == 1 && Array(raw[metadataSize...]) == magic
        }
    }

    private func failure(_ at: Int64, _ reason: String) -> WorkloadError {
        .malformedTrace(file: path, offset: at, reason: reason)
    }

    private mutating func readHeader() throws {
        guard try window.ensure(0, Self.metadataSize) else { throw failure(0, "not a RocksDB trace (shorter than a record)") }
        let (type, length) = window.withBytes(0, Self.metadataSize) { raw in
            (raw[8], Int(raw.loadUnaligned(fromByteOffset: 9, as: UInt32.self).littleEndian))
        }
        guard type == 1 else { throw failure(8, "not a RocksDB trace (the first record is of type \(type), not the header's 1)") }
        guard length <= 1 << 20, try window.ensure(0, Self.metadataSize + length) else {
            throw failure(9, "the header record of \(length) bytes is cut off")
        }
        let text = window.withBytes(Int64(Self.metadataSize), length) { String(decoding: $0, as: UTF8.self) }
        guard text.utf8.starts(with: Self.magic) else { throw failure(13, "not a RocksDB trace (bad magic)") }
        // "feedcafedeadbeef\tTrace Version: 0.2\tRocksDB Version: 7.8\tFormat: …"
        let fields = text.split(separator: "\t").map(String.init)
        guard fields.count >= 3, fields[1].hasPrefix("Trace Version: "), fields[2].hasPrefix("RocksDB Version: "),
              let version = Self.version(String(fields[1].dropFirst(15))) else {
            throw failure(13, "the header does not give the trace and RocksDB versions")
        }
        traceVersion = version
        rocksDBVersion = String(fields[2].dropFirst(17))
        offset = Int64(Self.metadataSize + length)
    }

    /// RocksDB's reading of `M.N`: its digits as one number (`0.2` → 2).
    static func version(_ text: String) -> Int? {
        guard text.filter({ $0 == "." }).count == 1 else { return nil }
        var value = 0
        for character in text where character != "." {
            guard let digit = character.wholeNumberValue, value < 1_000_000 else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        while pendingIndex >= pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
            guard !ended else { return false }
            try readRecord()
        }
        operation = pending[pendingIndex]
        pendingIndex += 1
        return true
    }

    /// Reads one record into `pending` (nothing for a record that holds no operation).
    private mutating func readRecord() throws {
        let at = offset
        guard try window.ensure(at, Self.metadataSize) else {
            ended = true
            let left = window.available(from: at)
            if left > 0 { try bad.skip(failure(at, "the trace ends inside a record's header (\(left) of 13 bytes)")) }
            return
        }
        let (timestamp, type, length) = window.withBytes(at, Self.metadataSize) { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian, raw[8],
             Int(raw.loadUnaligned(fromByteOffset: 9, as: UInt32.self).littleEndian))
        }
        guard length <= Self.maxPayload else {
            // The records' framing is lost: nothing after this can be trusted.
            throw failure(at + 9, "payload length \(length) is not credible (damaged trace?)")
        }
        guard try window.ensure(at, Self.metadataSize + length) else {
            ended = true
            try bad.skip(failure(at, "record of type \(type) with a \(length)-byte payload is cut off"))
            return
        }
        offset = at + Int64(Self.metadataSize + length)
        // The payload is copied out: decoding appends to `pending` while the window is borrowed.
        var payload = scratch
        scratch = []
        payload.removeAll(keepingCapacity: true)
        window.withBytes(at + Int64(Self.metadataSize), length) { payload.append(contentsOf: $0) }
        let result = payload.withUnsafeBytes { decode(type: type, payload: $0, timestamp: timestamp) }
        scratch = payload
        if case let .failure(error) = result {
            pending.removeAll(keepingCapacity: true)
            if error.fatal { throw failure(at, error.reason) }
            try bad.skip(failure(at, error.reason))
        }
    }

    struct RecordError: Error {
        let reason: String
        var fatal = false
    }

    private mutating func decode(type: UInt8, payload: UnsafeRawBufferPointer, timestamp: UInt64) -> Result<Void, RecordError> {
        var reader = ByteReader(payload)
        do {
            switch type {
            case 2:
                sawFooter = true
                ended = true
            case 3:
                try decodeWrite(&reader, timestamp: timestamp)
            case 4:
                let (_, key) = try decodeKeyed(&reader, cfBit: 2, keyBit: 3, otherBits: [])
                pending.append(WorkloadOperation(.get, key: key, timestamp: timestamp))
            case 5, 6:
                let (_, key) = try decodeKeyed(&reader, cfBit: 4, keyBit: 5, otherBits: [6, 7])
                pending.append(WorkloadOperation(.scan, key: key, scanCount: scanCount, timestamp: timestamp))
            case 13:
                try decodeMultiGet(&reader, timestamp: timestamp)
            case 1:
                throw RecordError(reason: "a second header record")
            case 7...12:
                throw RecordError(reason: "record type \(type) belongs to a block-cache or I/O trace, not a query trace")
            default:
                throw RecordError(reason: "unknown record type \(type)")
            }
            return .success(())
        } catch let error as RecordError {
            return .failure(error)
        } catch {
            return .failure(RecordError(reason: "\(error)"))
        }
    }

    private func payloadMap(_ reader: inout ByteReader) throws -> [Int] {
        guard let map = reader.readFixed64() else { throw RecordError(reason: "payload map cut off") }
        return (0..<64).filter { map & (1 << UInt64($0)) != 0 }
    }

    private static func slice(_ reader: inout ByteReader, _ what: String) throws -> UnsafeRawBufferPointer {
        guard let length = reader.readVarint(), length <= UInt64(UInt32.max), let bytes = reader.readBytes(Int(length)) else {
            throw RecordError(reason: "\(what) cut off")
        }
        return bytes
    }

    private static func key(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard bytes.count <= StoreLimits.maxKeySize else { throw RecordError(reason: "key of \(bytes.count) bytes exceeds 64 KiB") }
        return Array(bytes)
    }

    /// A get's or an iterator's column family and key (payload-map fields `cfBit`, `keyBit`;
    /// `otherBits` are length-prefixed fields read past).
    private func decodeKeyed(_ reader: inout ByteReader, cfBit: Int, keyBit: Int, otherBits: [Int]) throws -> (UInt32, [UInt8]) {
        guard traceVersion >= 2 else {
            guard let cf = reader.readFixed32() else { throw RecordError(reason: "column family cut off") }
            return (cf, try Self.key(try Self.slice(&reader, "key")))
        }
        var cf: UInt32 = 0
        var key: [UInt8]?
        for bit in try payloadMap(&reader) {
            switch bit {
            case cfBit:
                guard let value = reader.readFixed32() else { throw RecordError(reason: "column family cut off") }
                cf = value
            case keyBit:
                key = try Self.key(try Self.slice(&reader, "key"))
            case _ where otherBits.contains(bit):
                _ = try Self.slice(&reader, "iterator bound")
            default:
                throw RecordError(reason: "unknown payload field \(bit)")
            }
        }
        guard let key else { throw RecordError(reason: "no key in the record") }
        return (cf, key)
    }

    private mutating func decodeMultiGet(_ reader: inout ByteReader, timestamp: UInt64) throws {
        guard traceVersion >= 2 else { throw RecordError(reason: "multiget records need trace version 0.2 or later") }
        var size: UInt32 = 0
        var keys: UnsafeRawBufferPointer?
        for bit in try payloadMap(&reader) {
            switch bit {
            case 8:
                guard let value = reader.readFixed32() else { throw RecordError(reason: "multiget size cut off") }
                size = value
            case 9: _ = try Self.slice(&reader, "multiget column families")
            case 10: keys = try Self.slice(&reader, "multiget keys")
            default: throw RecordError(reason: "unknown payload field \(bit)")
            }
        }
        guard size > 0, let keys else { throw RecordError(reason: "empty multiget") }
        var keyReader = ByteReader(keys)
        for _ in 0..<size {
            pending.append(WorkloadOperation(.get, key: try Self.key(try Self.slice(&keyReader, "multiget key")), timestamp: timestamp))
        }
    }

    private mutating func decodeWrite(_ reader: inout ByteReader, timestamp: UInt64) throws {
        var batch: UnsafeRawBufferPointer?
        if traceVersion >= 2 {
            for bit in try payloadMap(&reader) {
                guard bit == 1 else { throw RecordError(reason: "unknown payload field \(bit)") }
                batch = try Self.slice(&reader, "write batch")
            }
        } else {
            batch = UnsafeRawBufferPointer(rebasing: reader.bytes[reader.offset...])
        }
        guard let batch else { throw RecordError(reason: "no write batch in the record") }
        let first = pending.count
        try WriteBatchDecoder.decode(batch, merge: merge, timestamp: timestamp, into: &pending)
        // A batch of several operations stays atomic.
        if pending.count - first > 1 {
            pending.insert(WorkloadOperation(.begin, timestamp: timestamp), at: first)
            pending.append(WorkloadOperation(.commit, timestamp: timestamp))
        }
    }
}

/// RocksDB's WriteBatch encoding (db/write_batch.cc): `sequence u64, count u32`, then tagged
/// records — puts, deletes, single deletes, merges, their column-family variants, and markers
/// (log data, no-ops, two-phase-commit markers) that hold no operation.
enum WriteBatchDecoder {
    static func decode(_ batch: UnsafeRawBufferPointer, merge: MergeMapping, timestamp: UInt64,
                       into operations: inout [WorkloadOperation]) throws {
        var reader = ByteReader(batch)
        guard reader.skip(12) else { throw RocksDBTraceReader.RecordError(reason: "write batch shorter than its 12-byte header") }
        func fail(_ reason: String) -> RocksDBTraceReader.RecordError { .init(reason: "write batch: \(reason)") }
        func slice(_ what: String) throws -> UnsafeRawBufferPointer {
            guard let length = reader.readVarint(), length <= UInt64(UInt32.max), let bytes = reader.readBytes(Int(length)) else {
                throw fail("\(what) cut off")
            }
            return bytes
        }
        func key() throws -> [UInt8] {
            let bytes = try slice("key")
            guard bytes.count <= StoreLimits.maxKeySize else { throw fail("key of \(bytes.count) bytes exceeds 64 KiB") }
            return Array(bytes)
        }
        func valueSize(_ bytes: UnsafeRawBufferPointer) throws -> Int {
            guard bytes.count <= StoreLimits.maxValueSize else { throw fail("value of \(bytes.count) bytes exceeds 64 MiB") }
            return bytes.count
        }
        while let tag = reader.readByte() {
            // Column-family variants carry a varint32 family id first; everything maps to one keyspace.
            if [0x4, 0x5, 0x6, 0x8, 0xE, 0x10, 0x17, 0x19].contains(tag) {
                guard let family = reader.readVarint(), family <= UInt64(UInt32.max) else { throw fail("column family id cut off") }
            }
            switch tag {
            case 0x1, 0x5, 0x11, 0x10, 0x16, 0x17:
                // Put, blob index, wide-column entity: a put of the encoded value's size.
                let key = try key()
                operations.append(WorkloadOperation(.put, key: key, valueSize: try valueSize(try slice("value")), timestamp: timestamp))
            case 0x18, 0x19:
                // Timed put: the value is followed by an 8-byte write time.
                let key = try key()
                let size = try valueSize(try slice("value"))
                operations.append(WorkloadOperation(.put, key: key, valueSize: max(0, size - 8), timestamp: timestamp))
            case 0x0, 0x4, 0x7, 0x8:
                operations.append(WorkloadOperation(.delete, key: try key(), timestamp: timestamp))
            case 0x2, 0x6:
                let key = try key()
                let size = try valueSize(try slice("merge operand"))
                switch merge {
                case .put: operations.append(WorkloadOperation(.put, key: key, valueSize: size, timestamp: timestamp))
                case .rmw: operations.append(WorkloadOperation(.readModifyWrite, key: key, valueSize: size, timestamp: timestamp))
                case .error: throw fail("a merge (--merge put or rmw replays it)")
                }
            case 0xF, 0xE:
                throw fail("range deletions are not supported")
            case 0x3, 0xA, 0xB, 0xC:
                _ = try slice("marker")
            case 0x15:
                _ = try slice("commit timestamp")
                _ = try slice("commit id")
            case 0xD, 0x9, 0x12, 0x13:
                break
            default:
                throw fail("unknown record tag 0x\(String(tag, radix: 16))")
            }
        }
    }
}
