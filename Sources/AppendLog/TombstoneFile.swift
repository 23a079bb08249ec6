import StoreCore

/// `deletes=tombstone-file`: deletes are appended to `TOMBSTONES`, not to the segments
/// (FORMAT.md, "Tombstone file"). Each record names where in the segments' history its delete
/// falls — a segment id and an offset — so a key is deleted when its tombstone is at or after its
/// newest put; a put after the delete (a later offset, or a later segment) resurrects it.
///
/// Lock discipline: `size` and `needsSync` follow the store's `writeLock`.
final class TombstoneFile: @unchecked Sendable {
    static let name = "TOMBSTONES"
    static let headerSize = 25

    /// Flag: the last tombstone of its commit (a run is applied only whole).
    static let endsCommit: UInt8 = 0x01
    /// Flag: its commit also wrote puts to segment `segment`, ending at `commitEnd`; the tombstone
    /// counts only when that commit is in the segment.
    static let needsSegmentCommit: UInt8 = 0x02

    /// Flag: a seal, written on a clean close (no key). A file that ends in a valid seal has no
    /// torn tail, so a bad record anywhere in it is corruption, not a crash's leftover.
    static let seal: UInt8 = 0x04

    let file: DurableFile
    /// Bytes of whole records in the file.
    var size: Int
    /// Holds tombstones written since the last sync (durability `interval` or `none`).
    var needsSync = false
    /// Holds tombstones written since the writer last synced the file itself: segment records must
    /// not be written until they are durable (under `interval` and `none` nothing else orders two
    /// files' unsynced writes). Kept apart from `needsSync`, which the interval thread clears
    /// before its own sync has finished.
    var unsyncedBeforeSegment = false
    /// Whether the last record is a seal (nothing appended since the last clean close).
    var endsInSeal: Bool
    /// The group leader's encoding buffer.
    var buffer: [UInt8] = []

    init(file: DurableFile, size: Int, endsInSeal: Bool) {
        self.file = file
        self.size = size
        self.endsInSeal = endsInSeal
    }

    /// On a clean close: appends a seal (unless the file is empty or already ends in one) and
    /// syncs the file. Call holding `writeLock`, or when no writer can run.
    func sealAndSync() throws {
        if size > 0 && !endsInSeal {
            var record: [UInt8] = []
            Self.append(key: UnsafeRawBufferPointer(start: nil, count: 0), flags: Self.seal, segment: 0, position: 0, commitEnd: 0, to: &record)
            try file.write(record, at: Int64(size))
            size += record.count
            endsInSeal = true
            needsSync = true
        }
        if needsSync {
            try file.syncData()
            needsSync = false
        }
    }

    /// Whether the last `headerSize` bytes of the file are a valid seal.
    static func endsInValidSeal(_ file: DurableFile, size: Int) throws -> Bool {
        guard size >= headerSize else { return false }
        let tail = try file.read(count: headerSize, at: Int64(size - headerSize))
        return tail.withUnsafeBytes { bytes in
            let stored = bytes.loadUnaligned(as: UInt32.self).littleEndian
            return CRC32C.unmask(stored) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[4...]))
                && bytes[4] == seal && bytes.loadUnaligned(fromByteOffset: 21, as: UInt32.self) == 0
        }
    }

    @inline(__always)
    static func recordSize(keyCount: Int) -> Int { headerSize + keyCount }

    /// Appends one tombstone record to `buffer`.
    static func append(
        key: UnsafeRawBufferPointer, flags: UInt8, segment: UInt64, position: Int, commitEnd: Int, to buffer: inout [UInt8]
    ) {
        let start = buffer.count
        buffer.appendFixed32(0)
        buffer.append(flags)
        buffer.appendFixed64(segment)
        buffer.appendFixed32(UInt32(position))
        buffer.appendFixed32(UInt32(commitEnd))
        buffer.appendFixed32(UInt32(key.count))
        buffer.append(contentsOf: key)
        let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + 4)...])) }
        buffer.setFixed32(CRC32C.mask(crc), at: start)
    }

    /// One decoded tombstone.
    struct Record {
        var flags: UInt8
        var segment: UInt64
        var position: Int
        var commitEnd: Int
        var key: UnsafeRawBufferPointer
    }

    /// Reads every record front to back. Returns the offset where valid records end and, when
    /// a record there is invalid, whether it is torn (it reaches the end of the file, or only zeros
    /// follow it) and why.
    static func scan(
        _ file: DurableFile, size: Int, _ body: (_ offset: Int, _ record: Record) throws -> Void
    ) throws -> (end: Int, invalid: (reason: String, torn: Bool)?) {
        var window = FileWindow(file: file, size: Int64(size))
        var position = 0
        func onlyZeros(from start: Int) throws(StoreError) -> Bool {
            try window.onlyZeros(from: Int64(start))
        }
        while position < size {
            guard try window.ensure(Int64(position), headerSize) else {
                return (position, ("truncated tombstone header", true))
            }
            let keyCount = window.withBytes(Int64(position), headerSize) { Int($0.loadUnaligned(fromByteOffset: 21, as: UInt32.self).littleEndian) }
            guard keyCount <= StoreLimits.maxKeySize else {
                return (position, ("tombstone key length \(keyCount) exceeds 64 KiB", try onlyZeros(from: position)))
            }
            let length = headerSize + keyCount
            guard try window.ensure(Int64(position), length) else {
                return (position, ("tombstone of \(length) bytes extends past the end of the file (\(size) bytes)", true))
            }
            let valid = try window.withBytes(Int64(position), length) { bytes -> Bool in
                let stored = bytes.loadUnaligned(as: UInt32.self).littleEndian
                guard CRC32C.unmask(stored) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[4...])) else { return false }
                var reader = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[4...]))
                let flags = reader.readByte()!
                let segment = reader.readFixed64()!
                let recordPosition = Int(reader.readFixed32()!)
                let commitEnd = Int(reader.readFixed32()!)
                try body(position, Record(flags: flags, segment: segment, position: recordPosition, commitEnd: commitEnd,
                                          key: UnsafeRawBufferPointer(rebasing: bytes[headerSize...])))
                return true
            }
            guard valid else {
                let torn = try position + length == size || onlyZeros(from: position)
                return (position, ("checksum mismatch in a \(length)-byte tombstone", torn))
            }
            position += length
        }
        return (position, nil)
    }
}
