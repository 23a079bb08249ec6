import StoreCore

/// Reads a binary trace front to back through a 1 MiB window, in constant memory whatever the
/// trace's size (zstd- and gzip-compressed traces are decompressed as a stream); checks the header
/// CRC on open and the record count and record CRC at the end.
public struct TraceReader: OperationSource {
    public let path: String
    public let header: TraceHeader
    /// Operations read so far.
    public private(set) var count = 0
    private(set) var window: StreamWindow
    /// How offsets in errors are to be read: `""`, or a note that they count decompressed bytes.
    private let decompressed: String
    /// File offset of the next byte to parse.
    private var offset: Int64
    /// Record bytes before this offset are in `crc`.
    private var checksummed: Int64
    private var crc: UInt32 = 0
    private var previousTimestamp: UInt64 = 0
    private var ended = false

    public init(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws {
        try self.init(source: try ByteSource.open(path, fileSystem: fileSystem))
    }

    /// Reads the trace in `source` (a plain, zstd or gzip file).
    public init(source: ByteSource) throws {
        path = source.path
        window = StreamWindow(source: source)
        let where_ = source.compression.map { " (in the \($0)-decompressed data)" } ?? ""
        guard try window.ensure(0, 14) else {
            throw WorkloadError.malformedTrace(file: path, offset: 0, reason: "not a storebench trace (too short)\(where_)")
        }
        let prefix = window.withBytes(0, 14) { Array($0) }
        guard Array(prefix[0..<8]) == TraceFormat.magic else {
            throw WorkloadError.malformedTrace(file: path, offset: 0, reason: "not a storebench trace (bad magic)\(where_)")
        }
        let version = UInt16(prefix[8]) | UInt16(prefix[9]) << 8
        guard version == TraceFormat.version else {
            throw WorkloadError.malformedTrace(file: path, offset: 8, reason: "trace format version \(version), this build reads \(TraceFormat.version)")
        }
        let headerLength = Int(prefix[10]) | Int(prefix[11]) << 8 | Int(prefix[12]) << 16 | Int(prefix[13]) << 24
        guard headerLength <= 64 << 20, try window.ensure(14, headerLength + 4) else {
            throw WorkloadError.malformedTrace(file: path, offset: 14, reason: "header of \(headerLength) bytes is cut off\(where_)")
        }
        let decoded = window.withBytes(14, headerLength + 4) { raw -> TraceHeader? in
            let headerBytes = UnsafeRawBufferPointer(rebasing: raw[0..<headerLength])
            let stored = raw.loadUnaligned(fromByteOffset: headerLength, as: UInt32.self).littleEndian
            guard CRC32C.unmask(stored) == CRC32C.checksum(headerBytes) else { return nil }
            return TraceHeader.decode(headerBytes)
        }
        guard let decoded else {
            throw WorkloadError.malformedTrace(file: path, offset: 14, reason: "header checksum or structure is wrong")
        }
        header = decoded
        offset = Int64(14 + headerLength + 4)
        checksummed = offset
        decompressed = where_
    }

    private func failure(_ reason: String) -> WorkloadError {
        .malformedTrace(file: path, offset: offset, reason: reason + decompressed)
    }

    /// Makes `count` bytes from `offset` loaded; `false` when the file ends first. Record bytes
    /// about to leave the window are checksummed first.
    @inline(__always)
    private mutating func ensure(_ count: Int) throws -> Bool {
        if window.available(from: offset) >= count { return true }
        if offset > checksummed, window.available(from: checksummed) >= Int(offset - checksummed) {
            crc = window.withBytes(checksummed, Int(offset - checksummed)) { CRC32C.checksum($0, continuing: crc) }
            checksummed = offset
        }
        return try window.ensure(offset, count)
    }

    @inline(__always)
    private mutating func varint() throws -> UInt64 {
        _ = try ensure(10)
        guard window.available(from: offset) > 0 else { throw failure("truncated varint") }
        let (value, length) = window.withAvailableBytes(from: offset) { bytes -> (UInt64?, Int) in
            var reader = ByteReader(bytes)
            let value = reader.readVarint()
            return (value, reader.offset)
        }
        guard let value else { throw failure("malformed varint") }
        offset += Int64(length)
        return value
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        guard !ended else { return false }
        if decodeLoaded(into: &operation) { return true }
        guard try ensure(1) else { throw failure("the trace ends without its trailer (cut off?)") }
        let tag = window.withBytes(offset, 1) { $0[0] }
        if tag == TraceFormat.endTag {
            try readTrailer()
            return false
        }
        guard let kind = WorkloadOperation.Kind(rawValue: tag & TraceFormat.kindMask),
              tag & ~(TraceFormat.kindMask | TraceFormat.hasTimestamp | TraceFormat.hasValue) == 0 else {
            throw failure("unknown record tag \(tag)")
        }
        offset += 1
        operation.kind = kind
        if tag & TraceFormat.hasTimestamp != 0 {
            previousTimestamp = previousTimestamp &+ UInt64(bitPattern: TraceFormat.unzigzag(try varint()))
            operation.timestamp = previousTimestamp
        } else {
            operation.timestamp = nil
        }
        let keyLength = Int(try varint())
        guard keyLength <= StoreLimits.maxKeySize else { throw failure("key of \(keyLength) bytes exceeds 64 KiB") }
        guard try ensure(keyLength) else { throw failure("key cut off") }
        operation.key.removeAll(keepingCapacity: true)
        window.withBytes(offset, keyLength) { operation.key.append(contentsOf: $0) }
        offset += Int64(keyLength)
        operation.valueSize = 0
        operation.scanCount = 0
        operation.value = nil
        switch kind {
        case .put, .readModifyWrite:
            let size = Int(try varint())
            guard size <= StoreLimits.maxValueSize else { throw failure("value of \(size) bytes exceeds 64 MiB") }
            operation.valueSize = size
            if tag & TraceFormat.hasValue != 0 {
                guard try ensure(size) else { throw failure("value cut off") }
                operation.value = window.withBytes(offset, size) { Array($0) }
                offset += Int64(size)
            }
        case .scan:
            operation.scanCount = Int(try varint())
        case .get, .delete, .begin, .commit:
            break
        }
        count += 1
        return true
    }

    /// The common case in one pass over the loaded bytes, with no closure per field: a record
    /// without an inline value that lies wholly in the window. Anything else — the window's end,
    /// an inline value, the trailer, a malformed record — is left to the checked path in `next`,
    /// which reports it.
    /// - Returns: whether `operation` was filled (nothing is consumed otherwise).
    @inline(__always)
    private mutating func decodeLoaded(into operation: inout WorkloadOperation) -> Bool {
        let previous = previousTimestamp
        let parsed = window.withAvailableBytes(from: offset) { bytes -> (length: Int, timestamp: UInt64)? in
            guard bytes.count >= 2, let base = bytes.baseAddress else { return nil }
            let tag = base.load(as: UInt8.self)
            guard tag != TraceFormat.endTag, tag & ~(TraceFormat.kindMask | TraceFormat.hasTimestamp) == 0,
                  let kind = WorkloadOperation.Kind(rawValue: tag & TraceFormat.kindMask) else { return nil }
            var reader = ByteReader(bytes, offset: 1)
            var timestamp = previous
            if tag & TraceFormat.hasTimestamp != 0 {
                guard let delta = reader.readVarint() else { return nil }
                timestamp = timestamp &+ UInt64(bitPattern: TraceFormat.unzigzag(delta))
            }
            guard let keyLength = reader.readLength(limit: StoreLimits.maxKeySize),
                  let key = reader.readBytes(keyLength) else { return nil }
            var valueSize = 0
            var scanCount = 0
            switch kind {
            case .put, .readModifyWrite:
                guard let size = reader.readLength(limit: StoreLimits.maxValueSize) else { return nil }
                valueSize = size
            case .scan:
                guard let count = reader.readVarint(), count <= UInt64(Int.max) else { return nil }
                scanCount = Int(count)
            case .get, .delete, .begin, .commit:
                break
            }
            operation.kind = kind
            operation.timestamp = tag & TraceFormat.hasTimestamp != 0 ? timestamp : nil
            if operation.key.count == keyLength {
                // Same length as the previous key (the usual case): overwrite it in place.
                if keyLength > 0 {
                    operation.key.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: key.baseAddress!, byteCount: keyLength) }
                }
            } else {
                operation.key.removeAll(keepingCapacity: true)
                operation.key.append(contentsOf: key)
            }
            operation.valueSize = valueSize
            operation.scanCount = scanCount
            operation.value = nil
            return (reader.offset, timestamp)
        }
        guard let parsed else { return false }
        previousTimestamp = parsed.timestamp
        offset += Int64(parsed.length)
        count += 1
        return true
    }

    private mutating func readTrailer() throws {
        guard try ensure(TraceFormat.trailerSize) else { throw failure("trailer cut off") }
        // `ensure` keeps `[checksummed, offset)` loaded or checksums it before moving on.
        crc = window.withBytes(checksummed, Int(offset - checksummed)) { CRC32C.checksum($0, continuing: crc) }
        checksummed = offset
        let (recorded, storedCRC, magic) = window.withBytes(offset, TraceFormat.trailerSize) { raw in
            (Int(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: 1, as: UInt64.self).littleEndian),
             raw.loadUnaligned(fromByteOffset: 9, as: UInt32.self).littleEndian,
             Array(raw[13..<21]))
        }
        guard magic == TraceFormat.trailerMagic else { throw failure("bad trailer magic") }
        guard recorded == count else { throw failure("trailer counts \(recorded) operations, the trace holds \(count)") }
        guard CRC32C.unmask(storedCRC) == crc else { throw failure("record checksum mismatch: the trace is damaged") }
        offset += Int64(TraceFormat.trailerSize)
        guard try window.isEnd(at: offset) else { throw failure("bytes after the trailer") }
        ended = true
    }
}

extension TraceReader {
    /// The record count in a trace's trailer, without reading the records (`nil` when the file
    /// does not end with a trailer).
    public static func recordCount(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws -> Int? {
        let file = try StorageDirectory.openFile(path, fileSystem: fileSystem)
        defer { file.close() }
        let size = try file.size()
        guard size >= Int64(TraceFormat.trailerSize) else { return nil }
        let trailer = try file.read(count: TraceFormat.trailerSize, at: size - Int64(TraceFormat.trailerSize))
        guard trailer[0] == TraceFormat.endTag, Array(trailer[13...]) == TraceFormat.trailerMagic else { return nil }
        return trailer.withUnsafeBytes { Int(truncatingIfNeeded: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 1, as: UInt64.self))) }
    }

    /// Whether the file at `path` starts like a storebench trace (compressed or not).
    public static func isTrace(path: String) -> Bool {
        (try? TraceReader(path: path)) != nil
    }
}
