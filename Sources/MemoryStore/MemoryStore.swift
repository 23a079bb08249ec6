import StoreCore
import Synchronization

/// The `memory` engine: every key in memory, nothing on disk. It is the oracle the conformance
/// suite compares the other engines with, and the zero-I/O baseline that shows how much of a
/// measurement is the harness itself.
///
/// Each key and its value live in one `MemoryEntry`, reached two ways: a hash table whose cells
/// hold the entries themselves (`CellTable`) for gets, overwrites and read-modify-writes, and a
/// B+tree (`EntryTree`) for ordered scans. A cold point operation waits for one memory load (its
/// cell); only inserts, deletes and entries that move change the tree. Cells, tree nodes and
/// entries too large for a cell sit on huge pages (`EntryArena`, `HugePages`).
///
/// Opened on a directory it still takes the directory's lock and identity, so the harness treats
/// it like any engine (a second open fails as `locked`), but its data lives only as long as the
/// process: it is not persistent.
///
/// Concurrency: both indexes sit under a writer-preferring reader-writer lock — readers (gets,
/// scans) run in parallel, a writer (put, delete, a whole batch) holds it alone for the in-memory
/// update only. It is the baseline that shows what the harness costs at N threads with no I/O.
public final class MemoryStore: Store, @unchecked Sendable {
    public static let engineName = "memory"
    public static let formatVersion = 1

    public static let descriptor = EngineDescriptor(
        name: engineName,
        strategy: "in-memory hash index beside an ordered map (B+tree)",
        summary: "volatile oracle and zero-I/O baseline: measures the harness itself",
        isPersistent: false
    ) { directory, options in
        try MemoryStore(directory: directory, options: options)
    }

    public var engineName: String { Self.engineName }
    public let metrics = StoreMetrics()

    /// Entries too large for a cell, and the tree's nodes.
    private var arena = EntryArena()
    /// The entries in key order: scans.
    private var tree: EntryTree
    /// Key to entry, holding the entries that fit its cells: point operations. Holds the same
    /// entries as `tree`; freed in `deinit`.
    private var table = CellTable()
    /// Where `table` is, published for reading without the lock: a point operation starts
    /// loading its cell before it takes the lock (`noteTable`).
    private let tableCells = Atomic<UInt>(0)
    private let tableTags = Atomic<UInt>(0)
    private let tableMask = Atomic<Int>(0)
    private let tableCellSize = Atomic<Int>(0)
    /// Guards `tree`, `table`, `arena`, the entries, `liveBytes`, `lockedDirectory` and `isOpen`.
    private let lock = ReadWriteLock()
    private var liveBytes = 0
    private var lockedDirectory: LockedDirectory?
    private var isOpen = true

    /// A store with no directory: the oracle for tests.
    public init() {
        tree = EntryTree(arena: &arena)
        noteTable()
    }

    /// A store that holds `directory`'s lock while it is open.
    public init(directory: String, options: StoreOptions) throws {
        _ = try options.engineSettings(for: Self.engineName, known: [])
        tree = EntryTree(arena: &arena)
        lockedDirectory = try LockedDirectory.open(
            path: directory, engine: Self.engineName, formatVersion: Self.formatVersion,
            options: options, metrics: metrics)
        noteTable()
    }

    /// Publishes where `table` is (after it grew). Call holding the lock exclusively, or before
    /// the store is shared.
    private func noteTable() {
        let location = table.location
        tableCells.store(location.cells, ordering: .relaxed)
        tableTags.store(location.tags, ordering: .relaxed)
        tableMask.store(location.mask, ordering: .relaxed)
        tableCellSize.store(location.cellSize, ordering: .relaxed)
    }

    /// Starts loading the cell of `hash`, without the lock.
    @inline(__always)
    private func prefetchCell(_ hash: UInt64) {
        let location = CellTable.Location(
            cells: tableCells.load(ordering: .relaxed), tags: tableTags.load(ordering: .relaxed),
            mask: tableMask.load(ordering: .relaxed), cellSize: tableCellSize.load(ordering: .relaxed))
        CellTable.prefetch(hash: hash, table: location)
    }

    deinit {
        lockedDirectory?.release()
        table.deallocate(arena: &arena)
        tree.release(arena: &arena)
        arena.release()
    }

    @inline(__always)
    private func checkOpen() throws(StoreError) {
        if !isOpen { throw .closed }
    }

    public func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { key in
            let hash = CellTable.hash(key)
            prefetchCell(hash)
            lock.lockShared()
            defer { lock.unlock() }
            try checkOpen()
            guard let (_, entry) = table.find(key, hash: hash) else { return false }
            // Copy into the caller's buffer like every engine does (handing out the stored bytes
            // would make `memory` reads free and its baseline too low).
            let stored = entry.value
            value.removeAll(keepingCapacity: true)
            value.append(contentsOf: UnsafeBufferPointer(start: stored.baseAddress?.assumingMemoryBound(to: UInt8.self), count: stored.count))
            return true
        }
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        try StoreLimits.check(valueSize: value.count)
        try key.withUnsafeBytes { key in
            try value.withUnsafeBytes { value in
                let hash = CellTable.hash(key)
                prefetchCell(hash)
                lock.lockExclusive()
                defer { lock.unlock() }
                try checkOpen()
                metrics.addUserBytes(key.count + value.count)
                store(key, value, hash: hash)
            }
        }
    }

    public func delete(_ key: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        try key.withUnsafeBytes { key in
            let hash = CellTable.hash(key)
            prefetchCell(hash)
            lock.lockExclusive()
            defer { lock.unlock() }
            try checkOpen()
            metrics.addUserBytes(key.count)
            remove(key, hash: hash)
        }
    }

    public func apply(_ batch: WriteBatch) throws {
        try batch.validate()
        lock.lockExclusive()
        defer { lock.unlock() }
        try checkOpen()
        metrics.addUserBytes(batch.userBytes)
        for operation in batch.operations {
            switch operation {
            case let .put(key, value):
                key.withUnsafeBytes { key in
                    value.withUnsafeBytes { value in store(key, value, hash: CellTable.hash(key)) }
                }
            case let .delete(key):
                key.withUnsafeBytes { key in remove(key, hash: CellTable.hash(key)) }
            }
        }
    }

    /// Sets `key` to a copy of `value`. Call holding the lock exclusively.
    private func store(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, hash: UInt64) {
        if let (index, entry) = table.find(key, hash: hash) {
            liveBytes += value.count - entry.valueCount
            table.overwrite(at: index, with: value, arena: &arena) { tree.replace(key, with: $0) }
            return
        }
        if table.isFull { grow(adding: MemoryEntry.headerSize + key.count + value.count) }
        let entry = table.insert(key, value, hash: hash, arena: &arena)
        tree.insert(key, entry, arena: &arena)
        liveBytes += key.count + value.count
    }

    /// Call holding the lock exclusively.
    private func remove(_ key: UnsafeRawBufferPointer, hash: UInt64) {
        guard let (index, entry) = table.find(key, hash: hash) else { return }
        liveBytes -= key.count + entry.valueCount
        // The tree first: its search may read the removed entry's key, which the shift overwrites.
        tree.remove(key, arena: &arena)
        table.remove(at: index, arena: &arena) { moved in tree.replace(moved.key, with: moved) }
    }

    /// Replaces the full table with a larger one (its cell size chosen afresh) and points the
    /// tree at every entry's new place. Call holding the lock exclusively.
    private func grow(adding entryBytes: Int) {
        let shape = table.grownShape(adding: entryBytes)
        let old = table
        var next = CellTable(capacity: shape.capacity, cellSize: shape.cellSize)
        tree.repointAll { entry in next.place(entry, hash: CellTable.hash(entry.key), from: old, arena: &arena) }
        old.releaseArrays()
        table = next
        noteTable()
    }

    @discardableResult
    public func scan(
        from start: [UInt8], limit: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        // The whole scan holds the shared lock: it sees one state, so never part of a batch.
        lock.lockShared()
        defer { lock.unlock() }
        try checkOpen()
        guard limit > 0 else { return 0 }
        var visited = 0
        // Entries reach `body` a few places behind the tree walk that finds them: each is
        // prefetched when found, so its memory latency overlaps the hand-over of the ones before
        // it instead of adding to it.
        try withUnsafeTemporaryAllocation(of: MemoryEntry.self, capacity: Self.scanLead) { ring in
            let ring = ring.baseAddress!
            var found = 0
            try start.withUnsafeBytes { start in
                try tree.forEach(from: start) { entry in
                    entry.prefetch()
                    if found >= Self.scanLead {
                        let ready = ring[found & (Self.scanLead - 1)]
                        try body(ready.key, ready.value)
                        visited += 1
                    }
                    (ring + (found & (Self.scanLead - 1))).initialize(to: entry)
                    found += 1
                    return found < limit
                }
            }
            while visited < found {
                let ready = ring[visited & (Self.scanLead - 1)]
                try body(ready.key, ready.value)
                visited += 1
            }
        }
        return visited
    }

    /// How many entries ahead of the one handed to the scan's caller are being loaded (a power
    /// of two; 8 and 16 measured within 5% of each other).
    private static var scanLead: Int { 16 }

    public func sync() throws {
        try lock.withSharedLock { try checkOpen() }
    }

    public func compact() throws {
        try lock.withSharedLock { try checkOpen() }
    }

    public func close() throws {
        lock.lockExclusive()
        defer { lock.unlock() }
        try checkOpen()
        isOpen = false
        lockedDirectory?.release()
        lockedDirectory = nil
    }

    /// The hash table's capacity and cell size (for tests).
    var tableShape: (capacity: Int, cellSize: Int) {
        lock.withSharedLock { (table.capacity, table.cellSize) }
    }

    public func statistics() throws -> StoreStatistics {
        lock.lockShared()
        defer { lock.unlock() }
        try checkOpen()
        var statistics = try lockedDirectory?.directory.usage() ?? StoreStatistics()
        statistics.liveBytes = liveBytes
        statistics.deadBytes = 0
        statistics.keyCount = tree.count
        return statistics
    }
}
