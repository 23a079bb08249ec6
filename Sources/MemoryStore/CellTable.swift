import StoreCore

/// Key to entry for point operations: an open-addressing hash table whose cells hold the entries
/// themselves. A cell is `cellSize` bytes (a multiple of 64, chosen when the table grows so that
/// nine entries in ten of the store's fit, up to 2 KiB); an entry that fits is laid out in its cell as a
/// `MemoryEntry` (header, key, value), so a cold get, overwrite or read-modify-write waits for one
/// memory load — the cell, whose address follows from the hash — instead of two (a slot, then
/// the entry it points to). An entry too large for its cell lives in the `EntryArena` and the
/// cell holds a pointer to it (`flags` 1 at header offset 12, the pointer at offset 16).
///
/// Beside the cells, one tag byte per cell (0: empty; else the hash's top 7 bits and the high
/// bit) keeps probing off the cells: a probe run reads one line of tags and loads only the cells
/// whose tag matches. A third array keeps each cell's full hash, read only when deleting (the
/// backward shift needs each following cell's home) and never by lookups. Linear probing, at
/// most three quarters full, deletion by backward shift (no tombstones).
///
/// Entries in cells move when a delete shifts a probe run back and when the table grows. The
/// B+tree points at entries where they are (`MemoryStore` keeps it in step: the `repoint`
/// callbacks here, and `place` as its `grow` walks the tree).
///
/// Not thread-safe: `MemoryStore` holds its lock around every call.
struct CellTable {
    private(set) var cells: UnsafeMutableRawPointer
    private var tags: UnsafeMutablePointer<UInt8>
    private var hashes: UnsafeMutablePointer<UInt64>
    private(set) var mask: Int
    /// Bytes per cell: a multiple of 64, so cells start on cache lines.
    private(set) var cellSize: Int
    private(set) var count = 0
    /// Live entries by size (`EntrySizes`): what the next cell size is chosen from.
    private var sizes = EntrySizes()

    static var smallestCell: Int { 64 }
    static var largestCell: Int { 2048 }

    init(capacity: Int = 16, cellSize: Int = 256) {
        precondition(capacity >= 16 && capacity & (capacity - 1) == 0 && cellSize % 64 == 0 && cellSize >= Self.smallestCell)
        mask = capacity - 1
        self.cellSize = cellSize
        cells = Self.allocate(byteCount: capacity * cellSize)
        tags = Self.allocate(byteCount: capacity).bindMemory(to: UInt8.self, capacity: capacity)
        tags.initialize(repeating: 0, count: capacity)
        hashes = Self.allocate(byteCount: capacity * 8).bindMemory(to: UInt64.self, capacity: capacity)
    }

    var capacity: Int { mask + 1 }

    /// Frees the table and every entry that lives outside it.
    func deallocate(arena: inout EntryArena) {
        for index in 0...mask where tags[index] != 0 && isOutline(index) {
            MemoryEntry(outlinePointer(index)).free(in: &arena)
        }
        releaseArrays()
    }

    /// Frees the arrays, not the entries outside the cells: for a table whose entries were all
    /// placed in its successor.
    func releaseArrays() {
        Self.deallocate(cells, byteCount: capacity * cellSize)
        Self.deallocate(UnsafeMutableRawPointer(tags), byteCount: capacity)
        Self.deallocate(UnsafeMutableRawPointer(hashes), byteCount: capacity * 8)
    }

    /// Arrays of 2 MiB and more sit on huge pages: cells and tags are reached at random.
    private static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        byteCount >= HugePages.pageSize
            ? HugePages.allocate(byteCount: byteCount)
            : .allocate(byteCount: byteCount, alignment: 64)
    }

    private static func deallocate(_ base: UnsafeMutableRawPointer, byteCount: Int) {
        if byteCount >= HugePages.pageSize {
            HugePages.deallocate(base, byteCount: byteCount)
        } else {
            base.deallocate()
        }
    }

    // MARK: Hashing and prefetching

    /// The hash a key is placed by (`KeyHash`).
    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 { KeyHash.of(key) }

    /// A live cell's tag: the hash's top seven bits (the home comes from the low bits).
    @inline(__always)
    private static func tag(_ hash: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: hash >> 57) | 0x80 }

    /// Where the table is, for `prefetch(hash:table:)` outside the lock.
    struct Location {
        var cells: UInt
        var tags: UInt
        var mask: Int
        var cellSize: Int
    }

    var location: Location {
        Location(cells: UInt(bitPattern: cells), tags: UInt(bitPattern: tags), mask: mask, cellSize: cellSize)
    }

    /// Starts loading the tag, the home cell and the cell after it (up to 256 bytes of each: a
    /// header, a key and a 200-byte value; with the table 57% full, as in the default mix's run,
    /// about one key in seven sits one place past its home) of `hash` in the table at `location`, a copy published earlier and read
    /// without the lock, so it may mix two tables' fields: a prefetch is only a hint, never
    /// faults, and of a stale address is merely wasted.
    @inline(__always)
    static func prefetch(hash: UInt64, table location: Location) {
        let index = Int(truncatingIfNeeded: hash) & location.mask
        if let tag = UnsafeRawPointer(bitPattern: location.tags &+ UInt(index)) { Prefetch.line(tag) }
        if let cell = UnsafeRawPointer(bitPattern: location.cells &+ UInt(index &* location.cellSize)) {
            Prefetch.lines(cell, from: 0, to: min(location.cellSize, 256))
            Prefetch.lines(cell + location.cellSize, from: 0, to: min(location.cellSize, 256))
        }
    }

    // MARK: Cells

    @inline(__always)
    private func cell(_ index: Int) -> UnsafeMutableRawPointer { cells + index &* cellSize }

    @inline(__always)
    private func isOutline(_ index: Int) -> Bool {
        cell(index).load(fromByteOffset: 12, as: UInt32.self) != 0
    }

    @inline(__always)
    private func outlinePointer(_ index: Int) -> UnsafeMutableRawPointer {
        cell(index).load(fromByteOffset: 16, as: UnsafeMutableRawPointer.self)
    }

    /// The entry of the live cell `index`: the cell itself, or the block it points to.
    @inline(__always)
    func entry(at index: Int) -> MemoryEntry {
        isOutline(index) ? MemoryEntry(outlinePointer(index)) : MemoryEntry(cell(index))
    }

    /// Whether `entry` lies in this table's cells (else it is an outline block in the arena).
    @inline(__always)
    func holds(_ entry: MemoryEntry) -> Bool {
        entry.base >= cells && entry.base < cells + capacity * cellSize
    }

    @inline(__always)
    private func fitsInline(keyCount: Int, valueCount: Int) -> Bool {
        MemoryEntry.headerSize + keyCount + valueCount <= cellSize
    }

    /// Writes `key` and `value` into cell `index` as an entry.
    @inline(__always)
    private func writeInline(_ index: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> MemoryEntry {
        MemoryEntry.write(key: key, value: value, at: cell(index), capacity: cellSize - MemoryEntry.headerSize - key.count)
    }

    /// Makes cell `index` point to `entry`, a block in the arena.
    @inline(__always)
    private func writeOutline(_ index: Int, _ entry: MemoryEntry) {
        let cell = cell(index)
        cell.storeBytes(of: UInt32(1), toByteOffset: 12, as: UInt32.self)
        cell.storeBytes(of: entry.base, toByteOffset: 16, as: UnsafeMutableRawPointer.self)
    }

    // MARK: Operations

    /// The cell holding `key`, and its entry, or nil.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> (index: Int, entry: MemoryEntry)? {
        let tag = Self.tag(hash)
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let found = tags[index]
            if found == 0 { return nil }
            if found == tag {
                let candidate = entry(at: index)
                if candidate.hasKey(key) { return (index, candidate) }
            }
            index = (index + 1) & mask
        }
    }

    /// Whether adding one more entry needs a larger table first (`grownShape`).
    var isFull: Bool { (count + 1) * 4 > capacity * 3 }

    /// Adds `key` (not present) with `value`; the caller made room (`isFull`). - Returns: its
    /// entry, for the tree.
    mutating func insert(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, hash: UInt64, arena: inout EntryArena) -> MemoryEntry {
        let index = claim(hash, keyCount: key.count, valueCount: value.count)
        if fitsInline(keyCount: key.count, valueCount: value.count) {
            return writeInline(index, key: key, value: value)
        }
        let entry = MemoryEntry.make(key: key, value: value, in: &arena)
        writeOutline(index, entry)
        return entry
    }

    /// Sets the value of the entry in cell `index`. Where the entry moves (out of its cell, into
    /// it, or to a larger block), `repoint` gets the new location before the old one is reused.
    mutating func overwrite(at index: Int, with value: UnsafeRawBufferPointer, arena: inout EntryArena, repoint: (MemoryEntry) -> Void) {
        let old = entry(at: index)
        let keyCount = old.keyCount
        sizes.change(from: MemoryEntry.headerSize + keyCount + old.valueCount, to: MemoryEntry.headerSize + keyCount + value.count)
        let wasOutline = isOutline(index)
        if fitsInline(keyCount: keyCount, valueCount: value.count) {
            guard wasOutline else {
                old.overwriteValue(value)
                return
            }
            repoint(writeInline(index, key: old.key, value: value))
            old.free(in: &arena)
            return
        }
        if wasOutline, value.count <= old.valueCapacity, value.count * 2 >= old.valueCapacity {
            old.overwriteValue(value)
            return
        }
        // A new exact-size block: the value left its cell, grew out of its block, or shrank to
        // less than half of it (which would keep the old capacity allocated).
        let moved = MemoryEntry.make(key: old.key, value: value, in: &arena)
        repoint(moved)
        writeOutline(index, moved)
        if wasOutline { old.free(in: &arena) }
    }

    /// Empties cell `index` (its entry already out of the tree) and moves later cells of its
    /// probe run back, so that every key stays reachable from its home without tombstones;
    /// `repoint` gets each entry that moved with its cell, at its new place, before the cell it
    /// left is written again.
    mutating func remove(at index: Int, arena: inout EntryArena, repoint: (MemoryEntry) -> Void) {
        let old = entry(at: index)
        sizes.remove(MemoryEntry.headerSize + old.keyCount + old.valueCount)
        if isOutline(index) { old.free(in: &arena) }
        count -= 1
        var hole = index
        var next = (hole + 1) & mask
        while tags[next] != 0 {
            let home = Int(truncatingIfNeeded: hashes[next]) & mask
            // The cell may move into the hole only if its home is not in (hole, next].
            if (next - home) & mask >= (next - hole) & mask {
                cell(hole).copyMemory(from: cell(next), byteCount: cellSize)
                tags[hole] = tags[next]
                hashes[hole] = hashes[next]
                if !isOutline(hole) { repoint(MemoryEntry(cell(hole))) }
                hole = next
            }
            next = (next + 1) & mask
        }
        tags[hole] = 0
    }

    /// Takes the first empty cell of `hash`'s probe run for an entry of that size (tag, hash,
    /// count and size census set; the caller writes the cell). - Returns: its index.
    @inline(__always)
    private mutating func claim(_ hash: UInt64, keyCount: Int, valueCount: Int) -> Int {
        var index = Int(truncatingIfNeeded: hash) & mask
        while tags[index] != 0 { index = (index + 1) & mask }
        tags[index] = Self.tag(hash)
        hashes[index] = hash
        count += 1
        sizes.add(MemoryEntry.headerSize + keyCount + valueCount)
        return index
    }

    // MARK: Growing

    /// The capacity and cell size of the table that replaces this one when it is full, with
    /// one more entry of `entryBytes` to come: twice as many cells, each large enough for nine in
    /// ten of the entries (header, key and value) — or three in four, or half, when that many do
    /// not fit `largestCell`. When not even half fit, cells are `smallestCell`: every large entry
    /// lives in the arena, and a cell sized for them would hold little more than a pointer.
    func grownShape(adding entryBytes: Int) -> (capacity: Int, cellSize: Int) {
        var next = capacity * 2
        while (count + 1) * 4 > next * 3 { next *= 2 }
        var census = sizes
        census.add(entryBytes)
        for fraction in [0.9, 0.75, 0.5] {
            let size = census.percentile(fraction)
            if size <= Self.largestCell { return (next, max(size, Self.smallestCell)) }
        }
        return (next, Self.smallestCell)
    }

    /// Moves `entry` (of this table or the arena) into the new table `self`, under `hash`: into
    /// its cell if it fits, else to an arena block. - Returns: where it now is, for the tree.
    mutating func place(_ entry: MemoryEntry, hash: UInt64, from old: CellTable, arena: inout EntryArena) -> MemoryEntry {
        let keyCount = entry.keyCount
        let valueCount = entry.valueCount
        let index = claim(hash, keyCount: keyCount, valueCount: valueCount)
        let wasInline = old.holds(entry)
        if fitsInline(keyCount: keyCount, valueCount: valueCount) {
            let placed = writeInline(index, key: entry.key, value: entry.value)
            if !wasInline { entry.free(in: &arena) }
            return placed
        }
        let outline = wasInline ? MemoryEntry.make(key: entry.key, value: entry.value, in: &arena) : entry
        writeOutline(index, outline)
        return outline
    }
}

/// How many live entries there are of each size, in 64-byte classes up to `CellTable.largestCell`
/// and one class above it.
struct EntrySizes {
    private var counts = [Int](repeating: 0, count: CellTable.largestCell / 64 + 2)
    private var total = 0

    @inline(__always)
    private static func sizeClass(_ byteCount: Int) -> Int {
        min((byteCount + 63) >> 6, CellTable.largestCell / 64 + 1)
    }

    mutating func add(_ byteCount: Int) {
        counts[Self.sizeClass(byteCount)] += 1
        total += 1
    }

    mutating func remove(_ byteCount: Int) {
        counts[Self.sizeClass(byteCount)] -= 1
        total -= 1
    }

    /// One entry's size changed (most overwrites stay in their class: nothing to do).
    @inline(__always)
    mutating func change(from old: Int, to new: Int) {
        let oldClass = Self.sizeClass(old)
        let newClass = Self.sizeClass(new)
        guard oldClass != newClass else { return }
        counts[oldClass] -= 1
        counts[newClass] += 1
    }

    /// The smallest multiple of 64 that at least `fraction` of the entries fit in (entries above
    /// the largest class count as larger than any).
    func percentile(_ fraction: Double) -> Int {
        let wanted = Int((Double(total) * fraction).rounded(.up))
        var covered = 0
        for sizeClass in counts.indices {
            covered += counts[sizeClass]
            if covered >= wanted { return max(sizeClass, 1) * 64 }
        }
        return counts.count * 64
    }
}
