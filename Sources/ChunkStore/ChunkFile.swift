#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Synchronization

/// The chunk layer: one file of fixed-size chunks with copy-on-write transactions over *virtual*
/// chunk ids. Users (the B+tree) address chunks by virtual id; the translation table maps each
/// to the physical chunk holding its current bytes and their CRC32C. A commit writes changed
/// chunks to free physical chunks — never over a live one — then the changed table chunks, then
/// one of the two meta chunks, so a crash at any point leaves the previous commit intact. With
/// `commit=journal` the same writes go to the same places, but only after the whole commit is
/// in the `CommitJournal` and synced there; the chunk file is synced at checkpoints.
///
/// The whole translation table is kept in memory (8 bytes per virtual chunk, 0.2% of the data at
/// 4 KiB chunks); the free lists are rebuilt from it on open (see FORMAT.md).
///
/// Concurrency (LMDB's design): **one writer** — transactions, `sync`, `relocate`, verification
/// and the statistics are called by one thread at a time (the owner's writer lock) — and **any
/// number of readers** beside it, with no lock the writer waits for. After each commit the
/// writer publishes an immutable `TableSnapshot`; a reader pins the newest one in the
/// `ReaderTable` (`pinSnapshot`), reads chunks through it — from the file's read-only mapping
/// (`MappedChunks`, `read_path=mapped`) or through the shared `ChunkCache` — and unpins. Nothing a pinned snapshot can reach is changed or reused: chunks are copy-on-write on
/// disk, table pages and snapshot records are copied on write in memory, and whatever a commit
/// *C* releases (physical chunks, pages, the previous record) waits in `retired` /
/// `FreeChunks.pending` until every reader has pinned a txid ≥ *C* (and, for chunks, until a
/// commit ≥ *C* is durable).
public final class ChunkFile {
    public static let fileName = "chunks.cow"

    public let chunkSize: Int
    let file: DurableFile
    let directory: StorageDirectory
    /// fsync data and meta on every commit (durability `always`).
    let syncOnCommit: Bool
    /// Durability `none`: released chunks are reused by the next commit without waiting for a
    /// sync. A killed process loses nothing (the page cache keeps every write in order), but a
    /// power loss may leave the newest meta naming chunks that never reached the disk.
    let reuseWithoutSync: Bool
    /// `commit=journal`: the redo journal every commit goes through first (nil: shadow paging).
    let journal: CommitJournal?
    /// The last committed meta (writer side).
    public internal(set) var meta: ChunkMeta
    /// `levels[0]`: virtual id → packed `ChunkReference`; `levels[k]`: references of the chunks
    /// of level `k - 1`. The last level fits in one chunk, the root, named by the meta. The
    /// writer's own copy; readers translate through the published snapshot's pages.
    var levels: [[UInt64]]
    let entriesPerChunk: Int
    /// `virtual >> pageShift` is the level-0 table chunk (page) of `virtual`,
    /// `virtual & pageMask` its entry in it.
    let pageShift: Int
    let pageMask: Int
    var freeChunks: FreeChunks
    var freeVirtuals: [UInt32]
    let cache: ChunkCache
    /// `read_path=mapped`: committed chunks are read from this mapping, not through `cache`
    /// (nil: the cached path; see `ReadPath`).
    let mapping: MappedChunks?
    let readers: ReaderTable

    // Published state (readers).
    /// The newest published `TableSnapshot` (its address).
    let published = Atomic<UInt>(0)
    /// Its txid, stored after it: a reader pins this value, then loads `published`.
    let publishedTxid = Atomic<UInt64>(0)
    /// The writer's pointer to what it published last.
    var current: UnsafeMutablePointer<TableSnapshot>
    /// The page of a level-0 table chunk never written (all entries 0); shared, never retired.
    let zeroPage: UnsafeMutableRawPointer
    /// Memory the readers of older snapshots may still use, oldest first, with the commit that
    /// retired it: reclaimed once every pinned txid has reached that commit.
    var retired = CommitOrderedQueue<RetiredMemory>()
    /// Records (with their page arrays) no reader can see any more, for the next commits.
    var spareRecords: [UnsafeMutablePointer<TableSnapshot>] = []
    /// The newest commit known to be on stable storage (chunks it or older commits released may
    /// be reused, readers permitting).
    var durableTxid: UInt64

    /// Set when a failed write or sync left memory and file out of step; only reopening clears it.
    var failureState: StoreError?
    /// Guards `failureState` (a pthread mutex rather than `Mutex`, so TSan sees it).
    let failureLock = Lock()
    let failed = Atomic<Bool>(false)
    public var failure: StoreError? {
        failed.load(ordering: .acquiring) ? failureLock.withLock { failureState } : nil
    }

    // Transaction state.
    public internal(set) var inTransaction = false
    var working = WorkingSet()
    var freedVirtuals: [UInt32] = []
    var reservedFromFree: [UInt32] = []
    var transactionVirtualCount = 0
    /// The meta the open transaction will commit (root and counters set by the user).
    var transactionMeta: ChunkMeta
    /// Write every working chunk even when its bytes did not change (relocation).
    var forceRewrite = false
    /// Spare frames for working copies and table chunks (writer only).
    var pool: [UnsafeMutableRawPointer] = []
    /// Frames the writer took out of the cache (replaced, evicted, released chunks), with the
    /// cache epoch they left at: back to `pool` once no reader can still be reading them.
    var displaced: [RetiredFrame] = []
    /// The writer is inside its section (`beginWriting`): its cache pin is set.
    var writerPinned = false
    /// Highest physical chunk handed out so far (the file's chunk count minus one at least).
    var highestAllocated: UInt64 = 1
    /// Chunks the file holds (≥ the meta's chunk count when grown ahead; see `extendAhead`).
    var fileChunks: UInt64 = 2
    /// Relocation: chunks at or past this physical number are moved toward the front.
    var relocationLimit: UInt64 = .max
    var writes: [ChunkWrite] = []
    /// Per level, the table chunks a commit dirtied (kept between commits for their capacity).
    var dirtyTableScratch: [[Int]] = []
    /// Level-0 table chunks the commit rewrote: they become the next snapshot's pages.
    var newPages: [NewPage] = []

    /// Counters for statistics and tests.
    public internal(set) var chunksWritten = 0
    public internal(set) var chunksSkippedUnchanged = 0
    public internal(set) var commits = 0
    /// Table chunks read by the last open (its cost: see FORMAT.md).
    public internal(set) var tableChunksReadOnOpen = 0
    /// The unacknowledged single-sync commit the open found torn and fell back from, if any.
    public let discardedOnOpen: UInt64?

    // Structs rather than labeled tuples: arrays of those look their metadata up at run time.
    /// A page, or a snapshot record with its page array (not its pages).
    enum RetiredKind { case page, snapshot }
    /// Memory an older snapshot may use.
    struct RetiredMemory {
        var kind: RetiredKind
        var pointer: UnsafeMutableRawPointer
    }
    /// What happens to a written buffer: a data chunk goes to the cache, a level-0 table chunk
    /// becomes a page of the next snapshot, a higher table chunk goes back to the pool.
    enum WriteKind { case data, page, table }
    struct ChunkWrite {
        var physical: UInt32
        var bytes: UnsafeMutableRawPointer
        var kind: WriteKind
        /// CRC-32C of the bytes (the table entry's; the journal records it too).
        var checksum: UInt32
    }
    struct NewPage {
        var index: Int
        var page: UnsafeMutableRawPointer
    }

    /// Opens `fileName` in `directory`, creating an empty chunk file when there is none. A
    /// `commit=journal` store replays its journal first (see `CommitJournal.recover`).
    /// - Parameters:
    ///   - requestedChunkSize: for a new file; for an existing one it must match if given.
    ///   - requestedCommitMode: for a new file; for an existing one it must match if given.
    ///   - readerSlots: readers that can be inside a read at the same moment (more wait); by
    ///     default four per processor, at least 32.
    ///   - readPath: `.mapped` maps the file when its file system is the plain POSIX one and the
    ///     mapping succeeds; otherwise chunks are read through the cache.
    public init(
        directory: StorageDirectory, requestedChunkSize: Int?, cacheBytes: Int, syncOnCommit: Bool,
        reuseWithoutSync: Bool = false, readerSlots: Int? = nil, requestedCommitMode: CommitMode? = nil,
        readPath: ReadPath = .mapped
    ) throws(StoreError) {
        self.directory = directory
        self.syncOnCommit = syncOnCommit
        self.reuseWithoutSync = reuseWithoutSync
        if try !directory.exists(Self.fileName) {
            let size = requestedChunkSize ?? ChunkGeometry.defaultChunkSize
            let mode = requestedCommitMode ?? .shadow
            // The journal first: the chunk file's rename is what makes the store exist, and a
            // journal store's chunk file without its journal is damage.
            if mode == .journal, ChunkGeometry.isValidChunkSize(size) {
                try CommitJournal.create(in: directory, chunkSize: size)
            }
            try Self.create(in: directory, chunkSize: size, commitMode: mode)
        }
        file = try directory.open(Self.fileName, writable: true)
        // Readahead would fill the page cache with large folios, and ext4 then pays for a whole
        // folio on every 4 KiB chunk written into one (see `writeChunks`).
        file.adviseRandomAccess()
        let opened = try Self.openableMeta(file)
        var found = opened.meta
        discardedOnOpen = opened.discarded?.txid
        if let requestedChunkSize, requestedChunkSize != found.chunkSize {
            throw .invalidArgument("cow setting `chunk_size`: the store at \(directory.path) was created with \(found.chunkSize)-byte chunks, not \(requestedChunkSize)")
        }
        if let requestedCommitMode, requestedCommitMode != found.commitMode {
            throw .invalidArgument("cow setting `commit`: store was created with commit=\(found.commitMode.rawValue); opened with commit=\(requestedCommitMode.rawValue) (\(directory.path))")
        }
        if found.commitMode == .journal {
            let journal = try CommitJournal.open(in: directory, chunkSize: found.chunkSize)
            let recovered = try journal.recover(into: file, chunkFileTxid: found.txid, synced: syncOnCommit, durable: !reuseWithoutSync)
            if recovered.replayed > 0 { found = try Self.readCurrentMeta(file) }
            // After a checkpoint the chunk file's meta is synced: one older than the journal's
            // base means the chunk file lost a commit.
            if found.txid < recovered.last {
                throw .corrupted(file: file.path, offset: Int64(recovered.last % 2) * Int64(found.chunkSize),
                                 reason: "the newest valid meta is commit \(found.txid), but the journal says commit \(recovered.last) reached this file")
            }
            self.journal = journal
        } else {
            journal = nil
        }
        meta = found
        transactionMeta = found
        // The opened commit may exist only in the page cache (a killed process's last commit,
        // whose sync never returned): until the next sync it is not counted as durable, so the
        // first durable commit after an open takes two syncs, not one (FORMAT.md).
        durableTxid = found.txid == 0 ? 0 : found.txid - 1
        chunkSize = found.chunkSize
        entriesPerChunk = ChunkGeometry.entriesPerChunk(chunkSize)
        pageShift = entriesPerChunk.trailingZeroBitCount
        pageMask = entriesPerChunk - 1
        readers = ReaderTable(readerSlots: readerSlots ?? ReaderTable.defaultSlots())
        cache = ChunkCache(chunkSize: chunkSize, bytes: cacheBytes, readers: readers)
        zeroPage = ChunkFrame.allocate(chunkSize: chunkSize)
        zeroPage.initializeMemory(as: UInt8.self, repeating: 0, count: chunkSize)
        levels = []
        freeChunks = FreeChunks()
        freeVirtuals = []
        // Mapped after replay: only bytes the opened commit owns are read through it (if the file
        // is short, chunks past its end go to the cached path, whose read reports the missing
        // bytes). Any other file system sees every read: it gets the cached path.
        if readPath == .mapped, directory.fileSystem is PosixFileSystem {
            let owned = Int64(found.chunkCount) * Int64(found.chunkSize)
            mapping = MappedChunks(path: file.path, chunkSize: found.chunkSize, fileBytes: min(owned, try file.size()))
        } else {
            mapping = nil
        }
        current = .allocate(capacity: 1)
        current.initialize(to: TableSnapshot(meta: found, pages: .allocate(capacity: 1), pageCount: 0, pageCapacity: 1))
        // Every property is set: if this throws, `deinit` runs and frees what was allocated.
        try loadTable(opened.table)
        highestAllocated = meta.chunkCount - 1
        fileChunks = meta.chunkCount
        // The opened commit is the first snapshot.
        let pageCount = pageCount(levels[0].count)
        current.pointee.pages.deallocate()
        current.pointee.pages = .allocate(capacity: max(1, pageCount))
        current.pointee.pageCount = pageCount
        current.pointee.pageCapacity = max(1, pageCount)
        for index in 0..<pageCount { current.pointee.pages[index] = makePage(index) }
        published.store(UInt(bitPattern: current), ordering: .sequentiallyConsistent)
        publishedTxid.store(meta.txid, ordering: .sequentiallyConsistent)
    }

    deinit {
        // Retired pages and records go back to the pool and the spare records first.
        for entry in retired.waiting { release(entry.element) }
        for buffer in pool { ChunkFrame.deallocate(buffer) }
        working.removeAll { ChunkFrame.deallocate($0) }
        for write in writes where write.kind != .page { ChunkFrame.deallocate(write.bytes) }
        for new in newPages { ChunkFrame.deallocate(new.page) }
        for entry in displaced { ChunkFrame.deallocate(entry.frame) }
        for index in 0..<current.pointee.pageCount where current.pointee.pages[index] != zeroPage {
            ChunkFrame.deallocate(current.pointee.pages[index])
        }
        current.pointee.pages.deallocate()
        current.deallocate()
        for record in spareRecords {
            record.pointee.pages.deallocate()
            record.deallocate()
        }
        ChunkFrame.deallocate(zeroPage)
        file.close()
    }

    /// Closes the file. The owner makes sure no reader is pinned and no writer runs.
    public func close() {
        file.close()  // (the mapping, if any, is undone with the object: it holds its own reference to the file)
        journal?.file.close()
    }

    /// Writes a new chunk file atomically (temp + fsync + rename + directory fsync): meta slot 0
    /// holds commit 0 with an empty table, slot 1 is zero.
    static func create(in directory: StorageDirectory, chunkSize: Int, commitMode: CommitMode = .shadow) throws(StoreError) {
        guard ChunkGeometry.isValidChunkSize(chunkSize) else {
            throw .invalidArgument("cow setting `chunk_size`: \(chunkSize) is not a power of two from \(ChunkGeometry.minimumChunkSize) to \(ChunkGeometry.maximumChunkSize)")
        }
        var contents = [UInt8](repeating: 0, count: 2 * chunkSize)
        let meta = ChunkMeta(chunkSize: chunkSize, commitMode: commitMode).encoded()
        contents.replaceSubrange(0..<meta.count, with: meta)
        try directory.writeAtomically(fileName, contents: contents)
    }

    /// Loads the translation table from the current meta's root, verifying every table chunk
    /// (unless the open's meta check already read it: `image`), and rebuilds the free physical
    /// chunks and free virtual ids by reachability.
    private func loadTable(_ image: TableImage?) throws(StoreError) {
        let image = if let image { image } else { try TableImage(file: file, meta: meta) }
        levels = image.levels
        tableChunksReadOnOpen = image.tableChunksRead
        let used = image.used
        let chunkCount = meta.chunkCount
        var free: [UInt32] = []
        for physical in 2..<Int(chunkCount) where !used[physical] { free.append(UInt32(physical)) }
        freeChunks = FreeChunks(free)
        freeVirtuals = []
        for virtual in stride(from: levels[0].count - 1, through: 1, by: -1) where levels[0][virtual] == 0 {
            freeVirtuals.append(UInt32(virtual))
        }
        // Bytes past the chunk count belong to no commit (an interrupted one): cut them off.
        let expected = Int64(chunkCount) * Int64(chunkSize)
        if try file.size() > expected {
            try file.truncate(to: expected)
        }
    }

    // MARK: Reading

    /// Reads the chunk `reference` names into `buffer`, checking its CRC32C.
    func readVerified(_ reference: ChunkReference, into buffer: UnsafeMutableRawPointer, what: @autoclosure () -> String) throws(StoreError) {
        try TableImage.readVerified(reference, from: file, chunkSize: chunkSize, into: buffer, what: what())
    }

    /// The committed bytes of `reference`, through the cache (writer). Valid until the next read.
    @inline(__always)
    func load(_ reference: ChunkReference, virtual: UInt32) throws(StoreError) -> UnsafeRawPointer {
        if let mapping, mapping.contains(reference.physical) {
            return try mapped(reference, mapping, virtual: virtual)
        }
        if let cached = cache.lookup(reference.physical) { return cached }
        // The writer's pointers from earlier reads are dead now: move its cache pin forward, so
        // that frames evicted meanwhile can be recycled during a long transaction.
        if writerPinned {
            readers.enterCache(ReaderTable.writerSlot, epoch: cache.epoch.load(ordering: .sequentiallyConsistent))
        }
        return try loadMissing(reference, virtual: virtual)
    }

    /// The bytes of `reference` for a reader, through the cache; valid while the reader stays in
    /// its cache epoch.
    @inline(__always)
    func loadShared(_ reference: ChunkReference, virtual: UInt32) throws(StoreError) -> UnsafeRawPointer {
        if let mapping, mapping.contains(reference.physical) {
            return try mapped(reference, mapping, virtual: virtual)
        }
        if let cached = cache.lookup(reference.physical) { return cached }
        return try loadMissing(reference, virtual: virtual)
    }

    /// The bytes of `reference` in the mapping, checked against its checksum unless that chunk
    /// was checked (or written by this process) since it was last handed out. Valid while the
    /// snapshot that names it is pinned (the writer: until it releases the chunk).
    @inline(__always)
    private func mapped(_ reference: ChunkReference, _ mapping: MappedChunks, virtual: UInt32) throws(StoreError) -> UnsafeRawPointer {
        let bytes = mapping.address(reference.physical)
        if !mapping.isVerified(reference.physical) { try verifyMapped(reference, bytes, mapping, virtual: virtual) }
        return bytes
    }

    private func verifyMapped(_ reference: ChunkReference, _ bytes: UnsafeRawPointer, _ mapping: MappedChunks, virtual: UInt32) throws(StoreError) {
        guard CRC32C.checksum(UnsafeRawBufferPointer(start: bytes, count: chunkSize)) == reference.checksum else {
            throw .corrupted(file: file.path, offset: Int64(reference.physical) * Int64(chunkSize),
                             reason: "checksum mismatch in virtual chunk \(virtual) (physical chunk \(reference.physical))")
        }
        mapping.markVerified(reference.physical)
    }

    /// A cache miss: reads and checks the chunk into a spare frame, outside any lock, then
    /// caches it (or takes the copy another thread cached meanwhile).
    private func loadMissing(_ reference: ChunkReference, virtual: UInt32) throws(StoreError) -> UnsafeRawPointer {
        let frame = cache.spareFrame(for: reference.physical)
        do {
            try readVerified(reference, into: frame, what: "virtual chunk \(virtual)")
        } catch {
            cache.returnSpare(frame, for: reference.physical)
            throw error
        }
        return cache.insert(reference.physical, frame)
    }

    /// The committed reference of `virtual`.
    @inline(__always)
    func reference(of virtual: UInt32) throws(StoreError) -> ChunkReference {
        guard Int(virtual) < levels[0].count, virtual != 0 else {
            throw .corrupted(file: file.path, offset: -1, reason: "reference to virtual chunk \(virtual), past the table's \(levels[0].count) entries")
        }
        let reference = ChunkReference(packed: levels[0][Int(virtual)])
        guard reference.isMapped else {
            throw .corrupted(file: file.path, offset: -1, reason: "reference to virtual chunk \(virtual), which is not mapped (freed)")
        }
        return reference
    }

    /// The current bytes of chunk `virtual` (the transaction's copy if it changed it). The
    /// pointer is valid until the next `read`, `modify` or `commit`.
    @inline(__always)
    public func read(_ virtual: UInt32) throws(StoreError) -> UnsafeRawPointer {
        if inTransaction, let copy = working[virtual] { return UnsafeRawPointer(copy) }
        return try load(reference(of: virtual), virtual: virtual)
    }

    /// Drops the cache and re-reads every table chunk from disk, checking its checksum and that
    /// it matches the table in memory. Returns the number of table chunks.
    public func verifyTable() throws(StoreError) -> Int {
        cache.removeAll()
        mapping?.clearAllVerified()
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { scratch.deallocate() }
        var checked = 0
        for level in stride(from: levels.count - 1, through: 0, by: -1) {
            let chunkCount = (levels[level].count + entriesPerChunk - 1) / entriesPerChunk
            for index in 0..<chunkCount {
                let reference = level == levels.count - 1 ? meta.tableRoot : ChunkReference(packed: levels[level + 1][index])
                guard reference.isMapped else { continue }
                try readVerified(reference, into: scratch, what: "translation table level \(level) chunk \(index)")
                let first = index * entriesPerChunk
                for slot in first..<min(first + entriesPerChunk, levels[level].count) {
                    let stored = UInt64(littleEndian: scratch.loadUnaligned(fromByteOffset: (slot - first) * 8, as: UInt64.self))
                    guard stored == levels[level][slot] else {
                        throw .corrupted(file: file.path, offset: Int64(reference.physical) * Int64(chunkSize) + Int64((slot - first) * 8),
                                         reason: "table entry \(slot) of level \(level) differs from the table in memory")
                    }
                }
                checked += 1
            }
        }
        // The pages readers translate through say the same as the writer's table.
        let snapshot = current.pointee
        for virtual in 0..<levels[0].count {
            let page = snapshot.pages[virtual >> pageShift]
            let entry = UInt64(littleEndian: page.load(fromByteOffset: (virtual & pageMask) << 3, as: UInt64.self))
            guard entry == levels[0][virtual] else {
                throw .corrupted(file: file.path, offset: -1, reason: "the published table page of virtual chunk \(virtual) differs from the writer's table")
            }
        }
        return checked
    }

    /// Byte offset in the file of the committed copy of chunk `virtual` (for tests and tools).
    public func fileOffset(of virtual: UInt32) throws(StoreError) -> Int64 {
        Int64(try reference(of: virtual).physical) * Int64(chunkSize)
    }

    // MARK: Statistics

    /// Physical chunks in the file, the metas included.
    public var chunkCount: Int { Int(meta.chunkCount) }
    /// Free physical chunks (reusable now) plus those waiting for a durable commit.
    public var freeChunkCount: Int { freeChunks.count + freeChunks.pendingCount }
    public var mappedVirtualCount: Int { levels[0].count - 1 - freeVirtuals.count }
    /// Chunks of the translation table itself.
    public var tableChunkCount: Int {
        levels.reduce(0) { $0 + ($1.count + entriesPerChunk - 1) / entriesPerChunk }
    }
    public var cacheMisses: Int { cache.misses }
    public var cacheHits: Int { cache.hits.total }
    /// The read path in effect: `.mapped` only when the file is mapped.
    public var readPath: ReadPath { mapping == nil ? .cached : .mapped }
    /// How this store commits (recorded in its metas).
    public var commitMode: CommitMode { meta.commitMode }
    /// `commit=journal`: journal fdatasyncs and checkpoints since open (zero for shadow).
    public var journalSyncs: Int { journal?.syncs ?? 0 }
    public var journalCheckpoints: Int { journal?.checkpoints ?? 0 }
}
