import StoreCore
import Synchronization

/// The SSTs of each level as the MANIFEST records them. Level 0 files may overlap (ordered
/// oldest first); the files of every other level are disjoint and ordered by key.
struct LevelLayout {
    var levels: [[FileMetadata]] = Array(repeating: [], count: LSMStore.levels)

    mutating func apply(_ edit: VersionEdit) {
        for (level, number) in edit.deleted {
            levels[level].removeAll { $0.number == number }
        }
        for (level, file) in edit.added {
            levels[level].append(file)
        }
        levels[0].sort { $0.number < $1.number }
        for level in 1..<levels.count {
            levels[level].sort { KeyOrder.less($0.smallest, $1.smallest) }
        }
    }

    func bytes(level: Int) -> Int { levels[level].reduce(0) { $0 + $1.size } }
    var fileCount: Int { levels.reduce(0) { $0 + $1.count } }
    var allFiles: [FileMetadata] { levels.flatMap { $0 } }

    /// Files of `level` whose key range meets [smallest, largest].
    func overlapping(level: Int, smallest: [UInt8], largest: [UInt8]) -> [FileMetadata] {
        levels[level].filter { KeyOrder.compare($0.largest, smallest) >= 0 && KeyOrder.compare($0.smallest, largest) <= 0 }
    }

    /// An edit that recreates this layout from nothing (a new MANIFEST starts with it).
    func snapshot(lastSequence: UInt64, nextFileNumber: UInt64, logNumber: UInt64) -> VersionEdit {
        var edit = VersionEdit(lastSequence: lastSequence, nextFileNumber: nextFileNumber, logNumber: logNumber)
        for (level, files) in levels.enumerated() {
            for file in files { edit.added.append((level, file)) }
        }
        return edit
    }
}

/// An open SST, shared by every version that names it. When the last of them is gone — no
/// reader, scan or compaction can reach the file any more — its descriptor closes (with the
/// reader), and if a compaction retired it, its number goes to `ObsoleteFiles` for unlinking.
final class TableFile: @unchecked Sendable {
    let metadata: FileMetadata
    let reader: SSTReader
    private let obsoleteFiles: ObsoleteFiles
    private let retired = Atomic<Bool>(false)

    init(metadata: FileMetadata, reader: SSTReader, obsoleteFiles: ObsoleteFiles) {
        self.metadata = metadata
        self.reader = reader
        self.obsoleteFiles = obsoleteFiles
    }

    /// Marks the file as no longer named by the current version (the edit is durable).
    func retire() {
        retired.store(true, ordering: .releasing)
    }

    deinit {
        if retired.load(ordering: .acquiring) { obsoleteFiles.add(metadata.number) }
    }
}

/// One immutable state of the SSTs: readers and scans hold the version they started on, so its
/// files stay open and on disk until they finish, whatever compactions install meanwhile.
final class Version: @unchecked Sendable {
    let layout: LevelLayout
    /// `tables[level][index]` is the open file of `layout.levels[level][index]`.
    let tables: [[TableFile]]

    /// What a get searches, flattened into memory of its own: per file its key range (in
    /// `keyBytes`) and its reader, unretained (`tables` keeps it alive). A get through it touches
    /// no reference count, so concurrent readers do not bounce shared counters between cores.
    private struct Slot {
        var keys: Int
        var smallestCount: Int
        var largestCount: Int
        var reader: Unmanaged<SSTReader>
    }

    private let slots: UnsafeMutablePointer<Slot>
    /// Level `l`'s slots are `levelStarts[l] ..< levelStarts[l + 1]`.
    private let levelStarts: UnsafeMutablePointer<Int>
    private let keyBytes: UnsafeMutableRawPointer

    init(layout: LevelLayout = LevelLayout(), tables: [[TableFile]] = Array(repeating: [], count: LSMStore.levels)) {
        precondition(layout.levels.map(\.count) == tables.map(\.count), "a version opens each file it names")
        self.layout = layout
        self.tables = tables
        let files = layout.fileCount
        slots = .allocate(capacity: max(1, files))
        levelStarts = .allocate(capacity: LSMStore.levels + 1)
        let keyCount = layout.levels.reduce(0) { $0 + $1.reduce(0) { $0 + $1.smallest.count + $1.largest.count } }
        keyBytes = .allocate(byteCount: max(1, keyCount), alignment: 8)
        var slot = 0
        var offset = 0
        for level in 0..<LSMStore.levels {
            levelStarts[level] = slot
            for (file, table) in zip(layout.levels[level], tables[level]) {
                file.smallest.withUnsafeBytes { (keyBytes + offset).copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(keyBytes), byteCount: $0.count) }
                file.largest.withUnsafeBytes {
                    (keyBytes + offset + file.smallest.count).copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(keyBytes), byteCount: $0.count)
                }
                (slots + slot).initialize(to: Slot(keys: offset, smallestCount: file.smallest.count, largestCount: file.largest.count,
                                                   reader: Unmanaged.passUnretained(table.reader)))
                offset += file.smallest.count + file.largest.count
                slot += 1
            }
        }
        levelStarts[LSMStore.levels] = slot
    }

    deinit {
        slots.deallocate()
        levelStarts.deallocate()
        keyBytes.deallocate()
    }

    /// The version after `edit`: files it adds come from `opened` (new SSTs) or from this version
    /// (a file moved down a level keeps its open reader).
    func applying(_ edit: VersionEdit, opened: [UInt64: TableFile]) -> Version {
        var layout = self.layout
        layout.apply(edit)
        var existing: [UInt64: TableFile] = opened
        for level in tables { for table in level where existing[table.metadata.number] == nil { existing[table.metadata.number] = table } }
        let tables = layout.levels.map { files in files.map { existing[$0.number]! } }
        return Version(layout: layout, tables: tables)
    }

    /// The open file numbered `number`, if this version names it.
    func table(_ number: UInt64) -> TableFile? {
        for level in tables { if let table = level.first(where: { $0.metadata.number == number }) { return table } }
        return nil
    }

    @inline(__always)
    private func smallest(_ slot: UnsafeMutablePointer<Slot>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: keyBytes + slot.pointee.keys, count: slot.pointee.smallestCount)
    }

    @inline(__always)
    private func largest(_ slot: UnsafeMutablePointer<Slot>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: keyBytes + slot.pointee.keys + slot.pointee.smallestCount, count: slot.pointee.largestCount)
    }

    /// Looks `key` up in the SSTs: L0 newest first, then one file per deeper level (each file's
    /// Bloom filter before its index). `true`/`false` for a value/tombstone, `nil` when absent.
    func get(_ key: UnsafeRawBufferPointer, hash: UInt64, cache: BlockCache, into value: inout [UInt8]) throws -> Bool? {
        var index = levelStarts[1] - 1
        while index >= levelStarts[0] {
            let slot = slots + index
            if KeyOrder.compare(smallest(slot), key) <= 0 && KeyOrder.compare(largest(slot), key) >= 0 {
                if let answer = try Self.get(key, hash: hash, in: slot.pointee.reader, cache: cache, into: &value) { return answer }
            }
            index -= 1
        }
        for level in 1..<LSMStore.levels {
            var low = levelStarts[level]
            let end = levelStarts[level + 1]
            guard low < end else { continue }
            var high = end
            while low < high {
                let middle = (low + high) / 2
                if KeyOrder.compare(largest(slots + middle), key) < 0 { low = middle + 1 } else { high = middle }
            }
            guard low < end, KeyOrder.compare(smallest(slots + low), key) <= 0 else { continue }
            if let answer = try Self.get(key, hash: hash, in: slots[low].reader, cache: cache, into: &value) { return answer }
        }
        return nil
    }

    @inline(__always)
    private static func get(
        _ key: UnsafeRawBufferPointer, hash: UInt64, in reader: Unmanaged<SSTReader>, cache: BlockCache, into value: inout [UInt8]
    ) throws -> Bool? {
        let found = try reader._withUnsafeGuaranteedRef { try $0.get(key, hash: hash, cache: cache) }
        switch found {
        case .absent: return nil
        case .deleted: return false
        case let .value(block, range):
            value.removeAll(keepingCapacity: true)
            block.bytes.withUnsafeBytes { value.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[range])) }
            return true
        }
    }

    /// Every SST as an iteration source, newest first: L0 files by descending number, then
    /// one sequence per deeper level.
    func sources(cache: BlockCache?) -> [EntrySource] {
        var sources: [EntrySource] = []
        for table in tables[0].reversed() { sources.append(.table(SSTIterator(reader: table.reader, cache: cache))) }
        for level in 1..<LSMStore.levels where !tables[level].isEmpty {
            sources.append(.level(LevelIterator(files: tables[level].map(\.reader), cache: cache)))
        }
        return sources
    }
}
