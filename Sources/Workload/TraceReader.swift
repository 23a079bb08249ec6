import StoreCore

/// Reads a binary trace front to back through a 1 MiB window, in constant memory whatever the
/// trace's size; checks the header CRC on open and the record count and record CRC at the end.
public struct TraceReader: OperationSource {
    public let path: String
    public let header: TraceHeader
    /// Operations read so far.
    public private(set) var count = 0
    private let file: DurableFile
    private let fileSize: Int64
    private var window: [UInt8]
    /// File offset of `window[0]`.
    private var windowStart: Int64
    private var windowCount = 0
    private var position = 0
    /// Window index up to which record bytes are in `crc`.
    private var checksummed = 0
    private var crc: UInt32 = 0
    private var previousTimestamp: UInt64 = 0
    private var ended = false

    public init(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let directory = StorageDirectory(path: parent.isEmpty ? "/" : parent, fileSystem: fileSystem, metrics: StoreMetrics())
        file = try directory.open(name)
        fileSize = try file.size()
        let prefix = try file.read(count: 14, at: 0)
        guard prefix.count == 14, Array(prefix[0..<8]) == TraceFormat.magic else {
            throw WorkloadError.malformedTrace(file: path, offset: 0, reason: "not a storebench trace (bad magic)")
        }
        let version = UInt16(prefix[8]) | UInt16(prefix[9]) << 8
        guard version == TraceFormat.version else {
            throw WorkloadError.malformedTrace(file: path, offset: 8, reason: "trace format version \(version), this build reads \(TraceFormat.version)")
        }
        let headerLength = Int(prefix[10]) | Int(prefix[11]) << 8 | Int(prefix[12]) << 16 | Int(prefix[13]) << 24
        let headerAndCRC = try file.read(count: headerLength + 4, at: 14)
        guard headerAndCRC.count == headerLength + 4 else {
            throw WorkloadError.malformedTrace(file: path, offset: 14, reason: "header of \(headerLength) bytes is cut off")
        }
        let decoded = headerAndCRC.withUnsafeBytes { raw -> TraceHeader? in
            let headerBytes = UnsafeRawBufferPointer(rebasing: raw[0..<headerLength])
            let stored = raw.loadUnaligned(fromByteOffset: headerLength, as: UInt32.self).littleEndian
            guard CRC32C.unmask(stored) == CRC32C.checksum(headerBytes) else { return nil }
            return TraceHeader.decode(headerBytes)
        }
        guard let decoded else {
            throw WorkloadError.malformedTrace(file: path, offset: 14, reason: "header checksum or structure is wrong")
        }
        header = decoded
        windowStart = Int64(14 + headerLength + 4)
        window = [UInt8](repeating: 0, count: 1 << 20)
    }

    private func failure(_ reason: String) -> WorkloadError {
        .malformedTrace(file: path, offset: windowStart + Int64(position), reason: reason)
    }

    /// Makes `count` bytes from `position` available; `false` when the file ends first.
    @inline(__always)
    private mutating func ensure(_ count: Int) throws -> Bool {
        if position + count <= windowCount { return true }
        return try refill(count)
    }

    private mutating func refill(_ count: Int) throws -> Bool {
        // Checksum the records consumed so far, then slide the unread tail to the front.
        crc = window.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[checksummed..<position]), continuing: crc) }
        let tail = windowCount - position
        if count > window.count { window += [UInt8](repeating: 0, count: count - window.count) }
        window.withUnsafeMutableBytes { raw in
            if tail > 0 { raw.baseAddress!.copyMemory(from: raw.baseAddress! + position, byteCount: tail) }
        }
        windowStart += Int64(position)
        position = 0
        checksummed = 0
        let fileOffset = windowStart + Int64(tail)
        let want = min(window.count - tail, Int(fileSize - fileOffset))
        if want > 0 {
            let file = self.file
            var readError: StoreError?
            let got = window.withUnsafeMutableBytes { raw in
                do throws(StoreError) {
                    return try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[tail..<(tail + want)]), at: fileOffset)
                } catch {
                    readError = error
                    return 0
                }
            }
            if let readError { throw readError }
            windowCount = tail + got
        } else {
            windowCount = tail
        }
        return count <= windowCount
    }

    @inline(__always)
    private mutating func varint() throws -> UInt64 {
        guard try ensure(min(10, Int(fileSize - windowStart) - position)) else { throw failure("truncated varint") }
        return try window.withUnsafeBytes { raw in
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[position..<windowCount]))
            guard let value = reader.readVarint() else { throw failure("malformed varint") }
            position += reader.offset
            return value
        }
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        guard !ended else { return false }
        guard try ensure(1) else { throw failure("the trace ends without its trailer (cut off?)") }
        let tag = window[position]
        if tag == TraceFormat.endTag {
            try readTrailer()
            return false
        }
        guard let kind = WorkloadOperation.Kind(rawValue: tag & TraceFormat.kindMask),
              tag & ~(TraceFormat.kindMask | TraceFormat.hasTimestamp | TraceFormat.hasValue) == 0 else {
            throw failure("unknown record tag \(tag)")
        }
        position += 1
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
        window.withUnsafeBytes { operation.key.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[position..<(position + keyLength)])) }
        position += keyLength
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
                operation.value = window.withUnsafeBytes { Array(UnsafeRawBufferPointer(rebasing: $0[position..<(position + size)])) }
                position += size
            }
        case .scan:
            operation.scanCount = Int(try varint())
        case .get, .delete, .begin, .commit:
            break
        }
        count += 1
        return true
    }

    private mutating func readTrailer() throws {
        crc = window.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[checksummed..<position]), continuing: crc) }
        checksummed = position
        guard try ensure(TraceFormat.trailerSize) else { throw failure("trailer cut off") }
        let (recorded, storedCRC, magic) = window.withUnsafeBytes { raw in
            (Int(raw.loadUnaligned(fromByteOffset: position + 1, as: UInt64.self).littleEndian),
             raw.loadUnaligned(fromByteOffset: position + 9, as: UInt32.self).littleEndian,
             Array(raw[(position + 13)..<(position + 21)]))
        }
        guard magic == TraceFormat.trailerMagic else { throw failure("bad trailer magic") }
        guard recorded == count else { throw failure("trailer counts \(recorded) operations, the trace holds \(count)") }
        guard CRC32C.unmask(storedCRC) == crc else { throw failure("record checksum mismatch: the trace is damaged") }
        position += TraceFormat.trailerSize
        guard windowStart + Int64(position) == fileSize else { throw failure("bytes after the trailer") }
        ended = true
    }
}

extension TraceReader {
    /// The record count in a trace's trailer, without reading the records (`nil` when the file
    /// does not end with a trailer).
    public static func recordCount(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws -> Int? {
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let file = try StorageDirectory(path: parent.isEmpty ? "/" : parent, fileSystem: fileSystem, metrics: StoreMetrics()).open(name)
        defer { file.close() }
        let size = try file.size()
        guard size >= Int64(TraceFormat.trailerSize) else { return nil }
        let trailer = try file.read(count: TraceFormat.trailerSize, at: size - Int64(TraceFormat.trailerSize))
        guard trailer[0] == TraceFormat.endTag, Array(trailer[13...]) == TraceFormat.trailerMagic else { return nil }
        return trailer.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 1, as: UInt64.self))) }
    }

    /// Whether the file at `path` starts like a storebench trace.
    public static func isTrace(path: String) -> Bool {
        (try? TraceReader(path: path)) != nil
    }
}
