import StoreCore

/// SST file layout (see FORMAT.md): data blocks, filter block, index block, properties block —
/// each followed by its masked CRC-32C (u32) — then a 64-byte footer.
enum SSTFormat {
    static let footerSize = 64
    static let magic: UInt64 = 0x5342_4C53_4D53_5354  // "TSSMSLBS"
    static let restartInterval = 16
    /// Bytes after each block: its masked CRC-32C.
    static let blockTrailerSize = 4
}

/// Where a block lies in an SST (its CRC trailer follows, outside `size`).
struct BlockHandle: Equatable {
    var offset: Int
    var size: Int
}

/// The last 64 bytes of an SST: the handles of the index, filter and properties blocks (offset
/// u64, size u64 each), the masked CRC-32C of those 48 bytes, 4 zero bytes, the magic number.
struct SSTFooter: Equatable {
    var index: BlockHandle
    var filter: BlockHandle
    var properties: BlockHandle

    func encoded() -> [UInt8] {
        var footer: [UInt8] = []
        for handle in [index, filter, properties] {
            footer.appendFixed64(UInt64(handle.offset))
            footer.appendFixed64(UInt64(handle.size))
        }
        footer.appendFixed32(CRC32C.mask(CRC32C.checksum(footer)))
        footer.appendFixed32(0)
        footer.appendFixed64(SSTFormat.magic)
        return footer
    }

    /// Decodes the footer of a file of `fileSize` bytes; every handle must lie before it.
    static func decode(_ footer: [UInt8], fileSize: Int, path: String) throws -> SSTFooter {
        let footerOffset = fileSize - SSTFormat.footerSize
        guard footer.count == SSTFormat.footerSize else {
            throw StoreError.corrupted(file: path, offset: Int64(footerOffset), reason: "SST footer cut short")
        }
        let magic = footer.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 56, as: UInt64.self)) }
        guard magic == SSTFormat.magic else {
            throw StoreError.corrupted(file: path, offset: Int64(footerOffset + 56), reason: "no SST magic number in the footer")
        }
        let storedCRC = footer.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 48, as: UInt32.self)) }
        guard CRC32C.unmask(storedCRC) == CRC32C.checksum(Array(footer[0..<48])) else {
            throw StoreError.corrupted(file: path, offset: Int64(footerOffset), reason: "SST footer checksum mismatch")
        }
        var handles: [BlockHandle] = []
        for index in 0..<3 {
            let offset = footer.withUnsafeBytes { Int(truncatingIfNeeded: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: index * 16, as: UInt64.self))) }
            let length = footer.withUnsafeBytes { Int(truncatingIfNeeded: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: index * 16 + 8, as: UInt64.self))) }
            guard offset >= 0, length >= 0, offset <= footerOffset, length <= footerOffset,
                  offset + length + SSTFormat.blockTrailerSize <= footerOffset else {
                throw StoreError.corrupted(file: path, offset: Int64(footerOffset + index * 16), reason: "footer block handle out of range")
            }
            handles.append(BlockHandle(offset: offset, size: length))
        }
        return SSTFooter(index: handles[0], filter: handles[1], properties: handles[2])
    }
}

/// What an SST holds, as recorded in its properties block and in the MANIFEST.
struct SSTProperties: Equatable {
    var entries = 0
    var tombstones = 0
    /// Highest commit sequence whose changes (to the SST's key range) it holds completely.
    var maxSequence: UInt64 = 0
    var smallest: [UInt8] = []
    var largest: [UInt8] = []

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendVarint(UInt64(entries))
        bytes.appendVarint(UInt64(tombstones))
        bytes.appendFixed64(maxSequence)
        bytes.appendVarint(UInt64(smallest.count))
        bytes.append(contentsOf: smallest)
        bytes.appendVarint(UInt64(largest.count))
        bytes.append(contentsOf: largest)
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> SSTProperties? {
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            guard let entries = reader.readLength(limit: .max), let tombstones = reader.readLength(limit: .max),
                  let sequence = reader.readFixed64(),
                  let smallestLength = reader.readLength(limit: StoreLimits.maxKeySize), let smallest = reader.readBytes(smallestLength),
                  let largestLength = reader.readLength(limit: StoreLimits.maxKeySize), let largest = reader.readBytes(largestLength)
            else { return nil }
            return SSTProperties(entries: entries, tombstones: tombstones, maxSequence: sequence,
                                 smallest: Array(smallest), largest: Array(largest))
        }
    }
}
