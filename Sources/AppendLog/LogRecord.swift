import StoreCore

/// One record of a segment: header, key, value (see FORMAT.md).
enum LogRecord {
    static let headerSize = 13

    enum Kind: UInt8 {
        case put = 1
        case delete = 2
        case commit = 3
    }

    /// Type bit: the record commits itself (a single put or delete outside a batch).
    static let selfCommitting: UInt8 = 0x80

    /// Size of an encoded record.
    @inline(__always)
    static func size(keyCount: Int, valueCount: Int) -> Int {
        headerSize + keyCount + valueCount
    }

    /// Appends one record to `buffer`.
    @inline(__always)
    static func append(
        _ kind: Kind, selfCommitting: Bool, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
        to buffer: inout [UInt8]
    ) {
        let start = buffer.count
        buffer.appendFixed32(0)
        buffer.append(kind.rawValue | (selfCommitting ? Self.selfCommitting : 0))
        buffer.appendFixed32(UInt32(key.count))
        buffer.appendFixed32(UInt32(value.count))
        buffer.append(contentsOf: key)
        buffer.append(contentsOf: value)
        let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + 4)...])) }
        buffer.setFixed32(CRC32C.mask(crc), at: start)
    }

    static func append(_ kind: Kind, selfCommitting: Bool, key: [UInt8], value: [UInt8], to buffer: inout [UInt8]) {
        key.withUnsafeBytes { key in
            value.withUnsafeBytes { value in append(kind, selfCommitting: selfCommitting, key: key, value: value, to: &buffer) }
        }
    }

    /// Appends the commit record that closes a batch of `count` records.
    static func appendCommit(count: Int, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: UInt32(count).littleEndian) { value in
            [UInt8]().withUnsafeBytes { key in
                append(.commit, selfCommitting: false, key: key, value: value, to: &buffer)
            }
        }
    }

    /// A decoded header.
    struct Header {
        var kind: Kind
        var selfCommitting: Bool
        var keyCount: Int
        var valueCount: Int
        var storedCRC: UInt32
        var size: Int { LogRecord.headerSize + keyCount + valueCount }
    }

    enum HeaderProblem: Error {
        case badType(UInt8)
        case badLength(String)
    }

    /// Decodes the header at the start of `bytes` (which must hold at least `headerSize` bytes).
    static func header(_ bytes: UnsafeRawBufferPointer) -> Result<Header, HeaderProblem> {
        var reader = ByteReader(bytes)
        let crc = reader.readFixed32()!
        let type = reader.readByte()!
        let keyCount = Int(reader.readFixed32()!)
        let valueCount = Int(reader.readFixed32()!)
        guard let kind = Kind(rawValue: type & ~selfCommitting) else { return .failure(.badType(type)) }
        guard keyCount <= StoreLimits.maxKeySize else { return .failure(.badLength("key length \(keyCount) exceeds 64 KiB")) }
        guard valueCount <= StoreLimits.maxValueSize else { return .failure(.badLength("value length \(valueCount) exceeds 64 MiB")) }
        if kind == .commit && (keyCount != 0 || valueCount != 4) {
            return .failure(.badLength("commit record with key length \(keyCount), value length \(valueCount)"))
        }
        return .success(Header(kind: kind, selfCommitting: type & selfCommitting != 0, keyCount: keyCount,
                               valueCount: valueCount, storedCRC: crc))
    }

    /// Whether the CRC of a whole record (header included) is right.
    @inline(__always)
    static func checksumMatches(_ record: UnsafeRawBufferPointer) -> Bool {
        let stored = record.loadUnaligned(as: UInt32.self).littleEndian
        return CRC32C.unmask(stored) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[4...]))
    }
}
