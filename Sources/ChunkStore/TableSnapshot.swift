import StoreCore

/// A committed state as readers see it: the meta of one commit and the level-0 pages of its
/// translation table (virtual id → physical chunk and checksum). Published by the writer after
/// the commit's meta is written; never changed afterwards. The next commit publishes a new record
/// that shares every page it did not change, and retires the old record and the pages it
/// replaced until no reader has pinned a txid below the new commit.
///
/// A page holds the bytes of one level-0 table chunk, exactly as written to the file (8-byte
/// little-endian entries); pages never written yet are the shared zero page.
struct TableSnapshot {
    var meta: ChunkMeta
    var pages: UnsafeMutablePointer<UnsafeMutableRawPointer>
    var pageCount: Int
}

/// Where the tree reads its chunks from: the writer's transaction (`ChunkFile` itself: the
/// working copies over the newest commit) or a reader's pinned snapshot (`SnapshotView`).
protocol ChunkSource {
    /// The bytes of chunk `virtual`, valid until the reader enters or leaves the cache again
    /// (the writer: until its next read).
    func read(_ virtual: UInt32) throws(StoreError) -> UnsafeRawPointer
    /// Virtual id of the tree's root (0: empty tree).
    var treeRoot: UInt32 { get }
    /// Virtual ids in the table: no chain of links can be longer.
    var virtualLimit: Int { get }
    /// (Re-)enters the cache at its current epoch before reading: buffers read before may be
    /// recycled from now on.
    func enterCache()
    /// Holds no cache buffer until the next `enterCache()` (a scan between copying a leaf out
    /// and reading the next one, while the caller's body runs).
    func leaveCache()
}

/// A reader's view of one pinned snapshot. Reads translate through the snapshot's pages and go
/// through the shared chunk cache; nothing here takes a lock unless a chunk must be read from
/// the file.
struct SnapshotView: ChunkSource {
    let snapshot: UnsafePointer<TableSnapshot>
    /// The reader's slot in the reader table.
    let slot: Int
    unowned(unsafe) let chunks: ChunkFile

    @inline(__always)
    var treeRoot: UInt32 { snapshot.pointee.meta.userRoot }
    var virtualLimit: Int { Int(snapshot.pointee.meta.virtualCount) }
    var txid: UInt64 { snapshot.pointee.meta.txid }
    var counters: (UInt64, UInt64) { snapshot.pointee.meta.userCounters }

    /// The snapshot's reference of `virtual`.
    @inline(__always)
    func reference(of virtual: UInt32) throws(StoreError) -> ChunkReference {
        let record = snapshot.pointee
        guard virtual != 0, virtual < record.meta.virtualCount else {
            throw .corrupted(file: chunks.file.path, offset: -1, reason: "reference to virtual chunk \(virtual), past the table's \(record.meta.virtualCount) entries")
        }
        let page = record.pages[Int(virtual) >> chunks.pageShift]
        let packed = UInt64(littleEndian: page.load(fromByteOffset: (Int(virtual) & chunks.pageMask) << 3, as: UInt64.self))
        let reference = ChunkReference(packed: packed)
        guard reference.isMapped else {
            throw .corrupted(file: chunks.file.path, offset: -1, reason: "reference to virtual chunk \(virtual), which is not mapped (freed)")
        }
        return reference
    }

    @inline(__always)
    func read(_ virtual: UInt32) throws(StoreError) -> UnsafeRawPointer {
        try chunks.loadShared(try reference(of: virtual), virtual: virtual)
    }

    @inline(__always)
    func enterCache() {
        chunks.readers.enterCache(slot, epoch: chunks.cache.epoch.load(ordering: .sequentiallyConsistent))
    }

    @inline(__always)
    func leaveCache() { chunks.readers.leaveCache(slot) }
}
