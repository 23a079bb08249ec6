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
    /// Pages the `pages` array has room for (records and their arrays are recycled).
    var pageCapacity: Int
}

/// Where the tree reads its chunks from: the writer's transaction (`ChunkFile` itself: the
/// working copies over the newest commit) or a reader's pinned snapshot (`SnapshotView`).
protocol ChunkSource {
    var chunkSize: Int { get }
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
    /// The error for a tree chunk that is not what the tree needs.
    func corrupt(_ virtual: UInt32, _ reason: String) -> StoreError
}

/// A reader's view of one pinned snapshot. Reads translate through the snapshot's pages and go
/// through the shared chunk cache; nothing here takes a lock unless a chunk must be read from
/// the file, and nothing touches a reference count: the chunk file is held unmanaged (its owner
/// keeps it alive while any read runs), because readers on every core retaining one shared
/// object would make its count a contended cache line.
struct SnapshotView: ChunkSource {
    let snapshot: UnsafePointer<TableSnapshot>
    /// The reader's slot in the reader table.
    let slot: Int
    let chunks: Unmanaged<ChunkFile>
    let chunkSize: Int
    let pageShift: Int
    let pageMask: Int

    init(snapshot: UnsafePointer<TableSnapshot>, slot: Int, chunks: ChunkFile) {
        self.snapshot = snapshot
        self.slot = slot
        self.chunks = Unmanaged.passUnretained(chunks)
        chunkSize = chunks.chunkSize
        pageShift = chunks.pageShift
        pageMask = chunks.pageMask
    }

    @inline(__always)
    var treeRoot: UInt32 { snapshot.pointee.meta.userRoot }
    var virtualLimit: Int { Int(snapshot.pointee.meta.virtualCount) }
    var txid: UInt64 { snapshot.pointee.meta.txid }

    /// The snapshot's reference of `virtual`.
    @inline(__always)
    func reference(of virtual: UInt32) throws(StoreError) -> ChunkReference {
        guard virtual != 0, virtual < snapshot.pointee.meta.virtualCount else {
            throw corruption("reference to virtual chunk \(virtual), past the table's \(snapshot.pointee.meta.virtualCount) entries")
        }
        let page = snapshot.pointee.pages[Int(virtual) >> pageShift]
        let reference = ChunkReference(packed: UInt64(littleEndian: page.load(fromByteOffset: (Int(virtual) & pageMask) << 3, as: UInt64.self)))
        guard reference.isMapped else {
            throw corruption("reference to virtual chunk \(virtual), which is not mapped (freed)")
        }
        return reference
    }

    @inline(__always)
    func read(_ virtual: UInt32) throws(StoreError) -> UnsafeRawPointer {
        let reference = try reference(of: virtual)
        var failure: StoreError?
        let bytes = chunks._withUnsafeGuaranteedRef { file -> UnsafeRawPointer? in
            do throws(StoreError) {
                return try file.loadShared(reference, virtual: virtual)
            } catch {
                failure = error
                return nil
            }
        }
        guard let bytes else { throw failure! }
        return bytes
    }

    @inline(__always)
    func enterCache() {
        chunks._withUnsafeGuaranteedRef { file in
            file.readers.enterCache(slot, epoch: file.cache.epoch.load(ordering: .sequentiallyConsistent))
        }
    }

    @inline(__always)
    func leaveCache() {
        chunks._withUnsafeGuaranteedRef { $0.readers.leaveCache(slot) }
    }

    func corrupt(_ virtual: UInt32, _ reason: String) -> StoreError {
        corruption("virtual chunk \(virtual): \(reason)")
    }

    private func corruption(_ reason: String) -> StoreError {
        .corrupted(file: chunks.takeUnretainedValue().file.path, offset: -1, reason: reason)
    }
}
