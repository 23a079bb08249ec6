import StoreCore

/// One SST as the MANIFEST records it.
struct FileMetadata: Equatable {
    var number: UInt64
    var size: Int
    var smallest: [UInt8]
    var largest: [UInt8]
    /// Highest commit sequence the file holds completely.
    var maxSequence: UInt64
    var entries: Int
}

/// A change to the set of SSTs, appended to the MANIFEST. Encoded as tagged fields:
///
///     1 lastSequence varint · 2 nextFileNumber varint · 3 logNumber varint
///     4 deleted file: level varint, number varint
///     5 added file: level, number, size, maxSequence, entries (varints),
///       smallest (length varint + bytes), largest (length varint + bytes)
struct VersionEdit: Equatable {
    /// Every commit up to here is held completely by the SSTs.
    var lastSequence: UInt64?
    var nextFileNumber: UInt64?
    /// WAL files numbered below this hold nothing the SSTs do not.
    var logNumber: UInt64?
    var deleted: [(level: Int, number: UInt64)] = []
    var added: [(level: Int, file: FileMetadata)] = []

    static func == (a: VersionEdit, b: VersionEdit) -> Bool {
        a.encoded() == b.encoded()
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        if let lastSequence { bytes.append(1); bytes.appendVarint(lastSequence) }
        if let nextFileNumber { bytes.append(2); bytes.appendVarint(nextFileNumber) }
        if let logNumber { bytes.append(3); bytes.appendVarint(logNumber) }
        for (level, number) in deleted {
            bytes.append(4)
            bytes.appendVarint(UInt64(level))
            bytes.appendVarint(number)
        }
        for (level, file) in added {
            bytes.append(5)
            bytes.appendVarint(UInt64(level))
            bytes.appendVarint(file.number)
            bytes.appendVarint(UInt64(file.size))
            bytes.appendVarint(file.maxSequence)
            bytes.appendVarint(UInt64(file.entries))
            bytes.appendVarint(UInt64(file.smallest.count))
            bytes.append(contentsOf: file.smallest)
            bytes.appendVarint(UInt64(file.largest.count))
            bytes.append(contentsOf: file.largest)
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8], path: String, offset: Int) throws -> VersionEdit {
        try bytes.withUnsafeBytes { raw -> VersionEdit in
            var reader = ByteReader(raw)
            var edit = VersionEdit()
            func bad(_ reason: String) -> StoreError {
                .corrupted(file: path, offset: Int64(offset), reason: "MANIFEST record: \(reason)")
            }
            while let tag = reader.readByte() {
                switch tag {
                case 1:
                    guard let value = reader.readVarint() else { throw bad("last sequence cut short") }
                    edit.lastSequence = value
                case 2:
                    guard let value = reader.readVarint() else { throw bad("next file number cut short") }
                    edit.nextFileNumber = value
                case 3:
                    guard let value = reader.readVarint() else { throw bad("log number cut short") }
                    edit.logNumber = value
                case 4:
                    guard let level = reader.readLength(limit: LSMStore.levels - 1), let number = reader.readVarint() else {
                        throw bad("deleted file cut short")
                    }
                    edit.deleted.append((level, number))
                case 5:
                    guard let level = reader.readLength(limit: LSMStore.levels - 1), let number = reader.readVarint(),
                          let size = reader.readLength(limit: .max), let sequence = reader.readVarint(),
                          let entries = reader.readLength(limit: .max),
                          let smallestLength = reader.readLength(limit: StoreLimits.maxKeySize), let smallest = reader.readBytes(smallestLength),
                          let largestLength = reader.readLength(limit: StoreLimits.maxKeySize), let largest = reader.readBytes(largestLength)
                    else { throw bad("added file cut short") }
                    edit.added.append((level, FileMetadata(number: number, size: size, smallest: Array(smallest), largest: Array(largest),
                                                           maxSequence: sequence, entries: entries)))
                default:
                    throw bad("unknown tag \(tag)")
                }
            }
            return edit
        }
    }
}
