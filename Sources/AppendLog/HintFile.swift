import StoreCore

/// The index of one segment: for every key the segment holds, its newest record there (a put's
/// place, or a tombstone), sorted by key, so that open rebuilds the keydir by merging sorted hints
/// instead of replaying every record (FORMAT.md, "Hint file").
enum HintFile {
    /// Where a key's newest record in the segment is.
    struct Entry: Equatable {
        var isTombstone: Bool
        var offset: UInt32
        var length: UInt32
    }

    /// Totals of the whole segment, which the entries alone cannot give (records superseded
    /// inside the segment have no entry).
    struct Trailer: Equatable {
        var entryCount: Int
        /// Put and delete records in the segment.
        var recordCount: Int
        /// Bytes of the segment's delete records.
        var tombstoneBytes: Int
        /// Length of the segment the hint describes: a segment of any other length (cut, or
        /// extended) is read instead.
        var segmentBytes: Int
    }

    static let entryHeaderSize = 13
    static let trailerSize = 36

    /// Encodes `entries` (ascending key order, as `OrderedKeyMap` yields them) and the trailer.
    static func encode(_ entries: OrderedKeyMap<Entry>, recordCount: Int, tombstoneBytes: Int, segmentBytes: Int) -> [UInt8] {
        var buffer: [UInt8] = []
        entries.forEach(from: nil) { key, entry in
            buffer.append(entry.isTombstone ? 2 : 1)
            buffer.appendFixed32(UInt32(key.count))
            buffer.appendFixed32(entry.offset)
            buffer.appendFixed32(entry.length)
            buffer.append(contentsOf: key)
            return true
        }
        buffer.appendFixed64(UInt64(entries.count))
        buffer.appendFixed64(UInt64(recordCount))
        buffer.appendFixed64(UInt64(tombstoneBytes))
        buffer.appendFixed64(UInt64(segmentBytes))
        buffer.appendFixed32(CRC32C.mask(CRC32C.checksum(buffer)))
        return buffer
    }

    /// Checks a whole hint — CRC, structure, entries inside the segment, keys strictly ascending —
    /// and returns its trailer, or `nil` when anything is wrong (the caller then scans the segment).
    static func validate(_ bytes: [UInt8], segmentSize: Int) -> Trailer? {
        bytes.withUnsafeBytes { raw -> Trailer? in
            guard raw.count >= trailerSize else { return nil }
            let crcOffset = raw.count - 4
            let stored = raw.loadUnaligned(fromByteOffset: crcOffset, as: UInt32.self).littleEndian
            guard CRC32C.unmask(stored) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<crcOffset])) else {
                return nil
            }
            var trailerReader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[(raw.count - trailerSize)...]))
            let trailer = Trailer(
                entryCount: Int(trailerReader.readFixed64()!), recordCount: Int(trailerReader.readFixed64()!),
                tombstoneBytes: Int(trailerReader.readFixed64()!), segmentBytes: Int(trailerReader.readFixed64()!))
            guard trailer.segmentBytes == segmentSize else { return nil }
            var cursor = Cursor(raw: UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - trailerSize)]))
            var count = 0
            var previous: UnsafeRawBufferPointer?
            while let item = cursor.next() {
                guard let item, Int(item.entry.offset) + Int(item.entry.length) <= segmentSize else { return nil }
                if let previous, KeyOrder.compare(previous, item.key) >= 0 { return nil }
                previous = item.key
                count += 1
            }
            guard count == trailer.entryCount, trailer.recordCount >= count else { return nil }
            return trailer
        }
    }

    /// Reads entries one after another from validated hint bytes (without the trailer).
    struct Cursor {
        var reader: ByteReader

        init(raw: UnsafeRawBufferPointer) {
            reader = ByteReader(raw)
        }

        /// The next entry; `.some(nil)` for a malformed one, `nil` at the end.
        mutating func next() -> (key: UnsafeRawBufferPointer, entry: Entry)?? {
            guard !reader.isAtEnd else { return nil }
            guard let type = reader.readByte(), type == 1 || type == 2,
                  let keyCount = reader.readFixed32(), keyCount <= StoreLimits.maxKeySize,
                  let offset = reader.readFixed32(), let length = reader.readFixed32(),
                  let key = reader.readBytes(Int(keyCount))
            else { return .some(nil) }
            return .some((key, Entry(isTombstone: type == 2, offset: offset, length: length)))
        }
    }

    /// Entries of a hint already checked by `validate`, in key order.
    static func forEachEntry(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer, Entry) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { raw in
            var cursor = Cursor(raw: UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - trailerSize)]))
            while let item = cursor.next(), let item { try body(item.key, item.entry) }
        }
    }

    /// Builds the hint of a complete segment by reading it: each key's newest committed record.
    static func build(scanning file: DurableFile, size: Int, format: RecordFormat) throws -> [UInt8] {
        let entries = OrderedKeyMap<Entry>()
        var pending: [(key: [UInt8], entry: Entry)] = []
        var recordCount = 0
        var tombstoneBytes = 0
        var scanner = SegmentScanner(file: file, size: size, format: format)
        let end = try scanner.scan { offset, record in
            guard record.kind != .commit else {
                for item in pending { entries.insert(item.entry, forKey: item.key) }
                pending.removeAll()
                return
            }
            recordCount += 1
            let isTombstone = record.kind == .delete
            if isTombstone { tombstoneBytes += record.size }
            let entry = Entry(isTombstone: isTombstone, offset: UInt32(offset), length: UInt32(record.size))
            let key = record.key
            if record.selfCommitting {
                entries.insert(entry, forKey: key)
            } else {
                pending.append((Array(key), entry))
            }
        }
        if case let .invalid(offset, reason, _) = end {
            throw StoreError.corrupted(file: file.path, offset: Int64(offset), reason: reason)
        }
        guard pending.isEmpty else {
            throw StoreError.corrupted(file: file.path, offset: Int64(size), reason: "segment ends inside a batch")
        }
        return encode(entries, recordCount: recordCount, tombstoneBytes: tombstoneBytes, segmentBytes: size)
    }
}
