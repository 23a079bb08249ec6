import StoreCore

/// The index of a compacted segment: for each record, its key and place, so that open can rebuild
/// the keydir without reading values (FORMAT.md, "Hint file").
enum HintFile {
    struct Entry {
        var isTombstone: Bool
        var key: [UInt8]
        var offset: UInt32
        var length: UInt32
    }

    static let trailerSize = 12

    /// Appends one entry to an encoded hint.
    static func append(isTombstone: Bool, key: UnsafeRawBufferPointer, offset: UInt32, length: UInt32, to buffer: inout [UInt8]) {
        buffer.append(isTombstone ? 2 : 1)
        buffer.appendFixed32(UInt32(key.count))
        buffer.appendFixed32(offset)
        buffer.appendFixed32(length)
        buffer.append(contentsOf: key)
    }

    /// Closes an encoded hint of `count` entries with its trailer.
    static func finish(_ buffer: inout [UInt8], count: Int) {
        buffer.appendFixed64(UInt64(count))
        buffer.appendFixed32(CRC32C.mask(CRC32C.checksum(buffer)))
    }

    /// Decodes a whole hint file, calling `body` per entry; `nil` when the file is damaged (the
    /// caller then scans the segment).
    static func read(
        _ bytes: [UInt8], segmentSize: Int,
        _ body: (_ isTombstone: Bool, _ key: UnsafeRawBufferPointer, _ offset: UInt32, _ length: UInt32) -> Void
    ) -> Bool {
        bytes.withUnsafeBytes { raw in
            guard raw.count >= trailerSize else { return false }
            let crcOffset = raw.count - 4
            let stored = raw.loadUnaligned(fromByteOffset: crcOffset, as: UInt32.self).littleEndian
            guard CRC32C.unmask(stored) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<crcOffset])) else {
                return false
            }
            let expected = raw.loadUnaligned(fromByteOffset: raw.count - trailerSize, as: UInt64.self).littleEndian
            // Validate everything before applying anything, so a damaged hint changes nothing.
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - trailerSize)]))
            var count: UInt64 = 0
            while !reader.isAtEnd {
                guard let type = reader.readByte(), type == 1 || type == 2,
                      let keyCount = reader.readFixed32(), keyCount <= StoreLimits.maxKeySize,
                      let offset = reader.readFixed32(), let length = reader.readFixed32(),
                      Int(offset) + Int(length) <= segmentSize, reader.skip(Int(keyCount))
                else { return false }
                count += 1
            }
            guard count == expected else { return false }
            reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - trailerSize)]))
            while !reader.isAtEnd {
                let type = reader.readByte()!
                let keyCount = Int(reader.readFixed32()!)
                let offset = reader.readFixed32()!
                let length = reader.readFixed32()!
                body(type == 2, reader.readBytes(keyCount)!, offset, length)
            }
            return true
        }
    }
}
