import StoreCore
import Synchronization

/// The `cow` engine: a B+tree over a copy-on-write chunk file. Every commit (a put, a delete, a
/// batch — or a group of them, see below) is one chunk-file transaction: changed nodes go to free
/// chunks, then the translation table, then a meta chunk. Opening reads two metas and the table —
/// there is no log to replay — unless the store was created with `commit=journal`: then each
/// commit first goes to a redo journal (one fdatasync instead of two), which open replays (see
/// `CommitJournal` and FORMAT.md).
///
/// Concurrency, as LMDB: **readers** (`get`, `scan`) pin the newest committed snapshot in the
/// reader table, walk the tree through it and the file's mapping (or the shared chunk cache:
/// setting `read_path`), and unpin — they take no
/// lock the writer holds, and the writer never changes what a pinned snapshot can reach.
/// **Writers**: a lone writer (nobody queued, the writer lock free) commits at once; otherwise
/// writers queue in a `GroupCommitQueue`, whose leader takes the writer lock, applies its own
/// request and those queued behind it in one transaction and commits once (under durability
/// `always`: one pair of fdatasyncs for the whole group), then acknowledges them. Each request
/// is validated before it queues, so a group fails only on an I/O error or corruption — and then
/// all of it, so each put, delete or batch stays all-or-nothing. `sync`, `compact`, verification
/// and `statistics` take the writer lock too; `close` sets the store closed, waits for the
/// writer and for the readers already in, and only then closes the file.
public final class ChunkStore: Store, @unchecked Sendable {
    public static let engineName = "cow"
    public static let formatVersion = 1

    public static let descriptor = EngineDescriptor(
        name: engineName,
        strategy: "copy-on-write B+tree in chunks",
        summary: "4 KiB chunks, virtual→physical translation table, two metas, CRC'd chunks, freelist reuse, readers on pinned snapshots",
        isPersistent: true,
        maxKeySize: NodeLayout.keyLimit(ChunkGeometry.defaultChunkSize),
        stressSettings: ["chunk_size": "512"],
        peers: ["lmdb"]
    ) { directory, options in
        try ChunkStore(directory: directory, options: options)
    }

    public var engineName: String { Self.engineName }
    /// The settings this store runs with, those taken from the store itself included.
    public let effectiveSettings: [String: String]
    public let metrics = StoreMetrics()

    let lockedDirectory: LockedDirectory
    let chunks: ChunkFile
    /// The tree's write paths keep scratch state: only the writer (holding `writeLock`) uses
    /// them. Its read paths are shared.
    let tree: ChunkTree
    let durability: Durability
    /// The one writer: held by a lone writer or the commit queue's leader, `sync`, `compact`,
    /// verification, `statistics`, the interval-sync thread and `close`. Readers never take it.
    private let writeLock = WriterLock()
    /// Under `always` each group's commit ends in fdatasyncs: gather the returning writers.
    private let commitQueue: GroupCommitQueue<WriteRequest>
    private let isOpen = Atomic<Bool>(true)
    /// Commits since the last sync (under `writeLock`).
    private var unsynced = false
    private var syncThread: MaintenanceThread?
    /// Time the last open spent, in nanoseconds (reading metas and the table).
    public private(set) var openNanoseconds: UInt64 = 0

    /// One writer's call, queued for a group commit.
    enum WriteRequest {
        case put([UInt8], [UInt8])
        case delete([UInt8])
        case batch(WriteBatch)
    }

    public init(directory: String, options: StoreOptions) throws {
        let started = MonotonicClock.now()
        let settings = try ChunkStoreSettings(options)
        durability = options.durability
        commitQueue = GroupCommitQueue(gathersReturningWriters: options.durability == .always)
        lockedDirectory = try LockedDirectory.open(
            path: directory, engine: Self.engineName, formatVersion: Self.formatVersion,
            options: options, metrics: metrics)
        try lockedDirectory.directory.removeTemporaryFiles()
        chunks = try ChunkFile(
            directory: lockedDirectory.directory, requestedChunkSize: settings.chunkSize,
            cacheBytes: settings.cacheBytes, syncOnCommit: options.durability == .always,
            reuseWithoutSync: options.durability == .none, requestedCommitMode: settings.commitMode,
            readPath: settings.readPath)
        effectiveSettings = [
            "chunk_size": String(chunks.chunkSize),
            "cache_size": String(settings.cacheBytes),
            "commit": chunks.commitMode.rawValue,
            // The path in effect: `cached` when the file system or the mapping ruled it out.
            "read_path": chunks.readPath.rawValue,
        ]
        tree = ChunkTree(chunks: chunks)
        openNanoseconds = MonotonicClock.now() &- started
        if durability == .interval {
            syncThread = MaintenanceThread(period: max(1, options.syncIntervalMilliseconds)) { [weak self] in
                self?.syncIfDirty()
            }
        }
    }

    deinit {
        if isOpen.load(ordering: .sequentiallyConsistent) { try? close() }
    }

    @inline(__always)
    private func checkOpen() throws(StoreError) {
        guard isOpen.load(ordering: .sequentiallyConsistent) else { throw .closed }
    }

    // MARK: Readers

    /// Pins the newest snapshot for one read. Throws `closed` once `close()` has begun: the pin
    /// comes first, so `close()` either sees it and waits, or this sees the store closed.
    @inline(__always)
    private func beginRead() throws(StoreError) -> SnapshotView {
        let view = chunks.pinSnapshot()
        guard isOpen.load(ordering: .sequentiallyConsistent) else {
            chunks.unpin(view)
            throw .closed
        }
        if let failure = chunks.failure {
            chunks.unpin(view)
            throw failure
        }
        return view
    }

    public func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        let view = try beginRead()
        defer { chunks.unpin(view) }
        return try key.withUnsafeBytes { key throws(StoreError) in try view.get(key, into: &value) }
    }

    @discardableResult
    public func scan(
        from start: [UInt8], limit: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        let view = try beginRead()
        defer { chunks.unpin(view) }
        return try start.withUnsafeBytes { start in try view.scan(from: start, limit: limit, body) }
    }

    /// Pins the newest committed state for reads across calls: the snapshot keeps answering as of
    /// that commit, whatever is committed afterwards. While it is held, nothing it can reach is
    /// reused (chunks released meanwhile wait and the file grows instead), and `close()` waits
    /// for it: release it promptly.
    public func pinSnapshot() throws -> ChunkSnapshot {
        let view = try beginRead()
        view.leaveCache()
        return ChunkSnapshot(store: self, view: view)
    }

    // MARK: Writers

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try tree.checkKey(key.count)
        try StoreLimits.check(valueSize: value.count)
        try checkOpen()
        try commit(.put(key, value), weight: key.count + value.count)
    }

    public func delete(_ key: [UInt8]) throws {
        try tree.checkKey(key.count)
        try checkOpen()
        try commit(.delete(key), weight: key.count)
    }

    public func apply(_ batch: WriteBatch) throws {
        try batch.validate()
        for operation in batch.operations { try tree.checkKey(operation.key.count) }
        try checkOpen()
        try commit(.batch(batch), weight: max(1, batch.userBytes))
    }

    /// Commits one validated request: at once when it is alone (no writer queued, the writer
    /// lock free), else as part of a group led by the first writer in the queue.
    private func commit(_ request: WriteRequest, weight: Int) throws {
        if writeLock.tryLockAlone() {
            defer { writeLock.unlock() }
            try whileWriting { try transaction { try applyRequest(request) } }
            return
        }
        try writeLock.queuing {
            try commitQueue.commit(request, weight: weight) { group in
                try writing {
                    try transaction {
                        var userBytes = 0
                        for request in group { userBytes += try applyRequest(request) }
                        return userBytes
                    }
                }
            }
        }
    }

    /// Runs `body` (which applies requests) as one transaction: committed when it returns, rolled
    /// back when it throws. Call as the writer.
    private func transaction(_ body: () throws -> Int) throws {
        try chunks.begin()
        let userBytes: Int
        do {
            userBytes = try body()
        } catch {
            chunks.rollback()
            throw error
        }
        try chunks.commit()
        metrics.addUserBytes(userBytes)
        unsynced = durability != .always
    }

    /// Applies `request` to the open transaction; returns its user bytes.
    private func applyRequest(_ request: WriteRequest) throws -> Int {
        switch request {
        case let .put(key, value):
            try key.withUnsafeBytes { key in
                try value.withUnsafeBytes { value in try tree.put(key, value) }
            }
            return key.count + value.count
        case let .delete(key):
            try key.withUnsafeBytes { key in _ = try tree.delete(key) }
            return key.count
        case let .batch(batch):
            for operation in batch.operations {
                switch operation {
                case let .put(key, value):
                    try key.withUnsafeBytes { key in
                        try value.withUnsafeBytes { value in try tree.put(key, value) }
                    }
                case let .delete(key):
                    try key.withUnsafeBytes { key in _ = try tree.delete(key) }
                }
            }
            return batch.userBytes
        }
    }

    /// Runs `body` as the writer: holding the writer lock, with the writer's cache pin set, on
    /// an open store.
    private func writing<T>(_ body: () throws -> T) throws -> T {
        writeLock.lock()
        defer { writeLock.unlock() }
        return try whileWriting(body)
    }

    /// `writing` for a caller that holds the writer lock already.
    @inline(__always)
    private func whileWriting<T>(_ body: () throws -> T) throws -> T {
        chunks.beginWriting()
        defer { chunks.endWriting() }
        try checkOpen()
        return try body()
    }

    /// Groups the commit queue wrote and the requests they held, for tests and reports (a lone
    /// writer's commit does not go through the queue).
    public var commitGroups: (groups: Int, requests: Int) { commitQueue.counts }

    // MARK: Maintenance

    public func sync() throws {
        try writing {
            try chunks.sync()
            unsynced = false
        }
    }

    private func syncIfDirty() {
        _ = try? writing {
            guard unsynced, chunks.failure == nil else { return }
            try chunks.sync()
            unsynced = false
        }
    }

    /// Moves live chunks toward the front of the file and truncates the tail; recorded as a
    /// `compaction` maintenance event (writers wait: it holds the writer lock; readers do not,
    /// and nothing a pinned snapshot can read is moved or cut off — see `ChunkFile.relocate`).
    public func compact() throws {
        try writing {
            let before = metrics.snapshot()
            try metrics.measure("compaction", blockingWriters: true) {
                let report = try chunks.relocate()
                let after = metrics.snapshot()
                return ((), after.fileBytesRead - before.fileBytesRead, after.fileBytesWritten - before.fileBytesWritten,
                        "moved \(report.movedChunks) chunks; \(report.chunksBefore) → \(report.chunksAfter) chunks")
            }
        }
    }

    /// Calls that begin after this throw `closed`. The writer in progress finishes its commit;
    /// readers already in finish their read (pinned snapshots must be released) before the file
    /// is closed, so no pread ever runs on a closed descriptor.
    public func close() throws {
        guard isOpen.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged else {
            throw StoreError.closed
        }
        syncThread?.stop()
        syncThread = nil
        writeLock.lock()
        defer { writeLock.unlock() }
        chunks.readers.waitForReaders()
        defer {
            chunks.close()
            lockedDirectory.release()
        }
        // A clean close leaves every commit on stable storage, whatever the durability.
        if chunks.failure == nil { try chunks.sync(checkpoint: true) }
        if let failure = chunks.failure { throw failure }
    }

    public func statistics() throws -> StoreStatistics {
        try checkOpen()
        var statistics = try lockedDirectory.directory.usage()
        try writing {
            statistics.keyCount = tree.keyCount
            statistics.liveBytes = tree.liveBytes
            statistics.deadBytes = chunks.freeChunkCount * chunks.chunkSize
        }
        // Mapped reads are not cache lookups: with the mapping the cache is reported as not used.
        if chunks.readPath == .cached {
            statistics.cacheHits = chunks.cacheHits
            statistics.cacheMisses = chunks.cacheMisses
        }
        return statistics
    }

    /// Chunk-layer figures, for tests and `verify`.
    public var chunkFile: ChunkFile { chunks }
}

/// A committed state of a `ChunkStore` pinned for reads across calls (`ChunkStore.pinSnapshot`).
/// Used from one thread at a time.
public final class ChunkSnapshot: @unchecked Sendable {
    private let store: ChunkStore
    private let view: SnapshotView
    private var released = false

    init(store: ChunkStore, view: SnapshotView) {
        self.store = store
        self.view = view
    }

    deinit { release() }

    /// The commit this snapshot shows.
    public var txid: UInt64 { view.txid }

    /// The value `key` had at this snapshot's commit.
    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        guard !released else { throw StoreError.closed }
        view.enterCache()
        defer { view.leaveCache() }
        var value: [UInt8] = []
        let found = try key.withUnsafeBytes { key throws(StoreError) in try view.get(key, into: &value) }
        return found ? value : nil
    }

    /// Up to `limit` entries with keys ≥ `start` at this snapshot's commit.
    public func scan(from start: [UInt8], limit: Int) throws -> [(key: [UInt8], value: [UInt8])] {
        guard !released else { throw StoreError.closed }
        view.enterCache()
        defer { view.leaveCache() }
        var result: [(key: [UInt8], value: [UInt8])] = []
        _ = try start.withUnsafeBytes { start in
            try view.scan(from: start, limit: limit) { key, value in result.append((Array(key), Array(value))) }
        }
        return result
    }

    /// Unpins the snapshot: what only it could still see may be reused.
    public func release() {
        guard !released else { return }
        released = true
        store.chunks.unpin(view)
    }
}

extension ChunkStore: StructureVerifying {
    /// Re-reads every table chunk and every tree chunk from disk (the cache is emptied first),
    /// checking each checksum, then the tree's invariants.
    public func verifyStructure() throws -> [String] {
        try writing {
            let tableChunks = try chunks.verifyTable()
            let report = try tree.verify()
            return [
                "chunks:      \(chunks.chunkCount) × \(chunks.chunkSize) B, \(chunks.freeChunkCount) free, txid \(chunks.meta.txid)",
                "table:       \(tableChunks) chunks, \(chunks.mappedVirtualCount) mapped virtual chunks, all checksums match",
                "tree:        depth \(report.depth), \(report.internalNodes) internal nodes, \(report.leaves) leaves, \(report.overflowChunks) overflow chunks",
                "keys:        \(report.keys) (\(ByteSize.format(report.liveBytes))), matching the meta",
            ]
        }
    }
}
