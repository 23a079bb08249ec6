import StoreCore

/// One commit in the WAL: its sequence number and all its operations, so a commit is replayed
/// whole or not at all.
///
///     sequence u64 | count varint | count × (kind u8: 1 put, 0 delete | key length varint | key
///                                             | put: value length varint | value)
enum CommitRecord {
    static func encodeHeader(sequence: UInt64, count: Int, into buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        buffer.appendFixed64(sequence)
        buffer.appendVarint(UInt64(count))
    }

    static func appendPut(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        buffer.append(1)
        buffer.appendVarint(UInt64(key.count))
        buffer.append(contentsOf: key)
        buffer.appendVarint(UInt64(value.count))
        buffer.append(contentsOf: value)
    }

    static func appendDelete(_ key: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        buffer.append(0)
        buffer.appendVarint(UInt64(key.count))
        buffer.append(contentsOf: key)
    }

    /// Decodes `record`, calling `body` for each operation (value `nil` for a delete).
    static func decode(
        _ record: [UInt8], path: String, offset: Int,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) -> Void
    ) throws -> UInt64 {
        try record.withUnsafeBytes { raw -> UInt64 in
            var reader = ByteReader(raw)
            func bad(_ reason: String) -> StoreError {
                .corrupted(file: path, offset: Int64(offset), reason: "WAL commit record: \(reason)")
            }
            guard let sequence = reader.readFixed64(), let count = reader.readLength(limit: raw.count) else {
                throw bad("header cut short")
            }
            for _ in 0..<count {
                guard let kind = reader.readByte(), kind <= 1,
                      let keyLength = reader.readLength(limit: StoreLimits.maxKeySize),
                      let key = reader.readBytes(keyLength) else { throw bad("operation cut short") }
                if kind == 1 {
                    guard let valueLength = reader.readLength(limit: StoreLimits.maxValueSize),
                          let value = reader.readBytes(valueLength) else { throw bad("value cut short") }
                    body(key, value)
                } else {
                    body(key, nil)
                }
            }
            guard reader.isAtEnd else { throw bad("\(reader.remaining) bytes after the last operation") }
            return sequence
        }
    }
}
