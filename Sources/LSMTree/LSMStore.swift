#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Synchronization

/// The `lsm` engine: commits go to a WAL and a memtable; full memtables are flushed to SSTs on a
/// background thread, which also runs leveled compaction. Every commit is one WAL record with one
/// sequence number, applied to one memtable whole, so every SST knows the last commit it holds
/// completely — and recovery replays only newer WAL commits.
///
/// Concurrency, as LevelDB does it:
/// - Writers queue in `writers` (group commit, StoreCore's `GroupCommitQueue`). The leader of a group writes the WAL records of
///   every commit in it with one write and — under durability `always` — one sync, applies them
///   to the memtable, then publishes the group's last sequence number. Only a leader touches the
///   WAL or adds to the memtable, and only one leader runs at a time.
/// - Readers take the current `ReadView` (memtable, immutable memtable, version) and the last
///   published sequence under a brief lock, then search without any store-wide lock: the
///   memtable's key filter turns most gets away without a lock (the rest take its reader-writer
///   lock only around the in-memory lookup), SSTs are read with pread, the block
///   cache is sharded. The sequence is the reader's snapshot: commits published after it are
///   skipped, so a batch is seen whole or not at all and a scan sees one state throughout.
/// - A view pins its memtables and its version; a version pins its SSTs. A file a compaction
///   retires is closed and unlinked only once no view, scan or compaction holds a version that
///   names it (`TableFile`, `ObsoleteFiles`).
///
/// Locks, in the order they may be taken: leadership of `writers` → `maintenanceLock`
/// (serialises flushes, compactions and the MANIFEST) → `lock` (the version, the immutable
/// memtable, file numbers, failure and open state) → the view lock, the memtable's
/// reader-writer lock and the obsolete-file list (leaves). SST merges and writes, MANIFEST writes
/// and WAL writes run without `lock`.
public final class LSMStore: Store, @unchecked Sendable {
    public static let engineName = "lsm"
    /// 2: a WAL may end in preallocated zeros (FORMAT.md, "Preallocated WAL space"). 3: WAL
    /// records carry their log number and WAL files are recycled (FORMAT.md, "Recycled WAL
    /// files"). Stores of format 1 and 2 open, and are marked format 3 as they do.
    public static let formatVersion = 3
    /// Levels 0 … 6.
    static let levels = 7

    public static let descriptor = EngineDescriptor(
        name: engineName,
        strategy: "LSM tree: WAL, memtable, leveled SSTs",
        summary: "WAL in 32 KiB blocks with group commit, multi-version memtable, SSTs with bloom filters and a sharded block cache, leveled compaction, write stalls",
        isPersistent: true,
        hasBackgroundMaintenance: true,
        stressSettings: [
            "write_buffer_size": "32KiB", "level1_size": "128KiB", "target_file_size": "32KiB", "block_size": "1KiB",
            // Recycled WALs under every durability, so crash and stress runs cover them.
            "recycle_wal": "2",
        ],
        peers: ["leveldb", "rocksdb"]
    ) { directory, options in
        try LSMStore(directory: directory, options: options)
    }

    public var engineName: String { Self.engineName }
    public let metrics = StoreMetrics()

    let settings: LSMSettings
    let durability: Durability
    let lockedDirectory: LockedDirectory
    var storage: StorageDirectory { lockedDirectory.directory }
    let cache: BlockCache
    let obsoleteFiles = ObsoleteFiles()

    // MARK: The write leader's (one at a time, see `writers`)

    /// The writer queue: group commit. Under `always` each group write ends in an fdatasync:
    /// gather the returning writers.
    let writers: GroupCommitQueue<WriteRequest>
    var wal: LogWriter!
    var walNumber: UInt64 = 0
    /// The memtable commits go to. Only a leader adds to it, and replaces it (under `lock`).
    var memtable: Memtable
    /// The leader's scratch for one WAL record.
    var recordBuffer: [UInt8] = []
    /// Highest sequence applied to a memtable: readers' snapshots. Stored by the leader (release)
    /// once a group is applied whole.
    let lastSequence = Atomic<UInt64>(0)
    /// WAL bytes written and not yet synced (for the interval sync thread).
    let unsynced = Atomic<Bool>(false)

    // MARK: Under `lock`

    let lock = Lock()
    var immutable: Memtable?
    /// The WAL started when `immutable` was frozen: once it is flushed, older WALs are obsolete.
    var immutableLogNumber: UInt64 = 0
    var version = Version()
    /// Highest sequence the SSTs hold completely.
    var persistedSequence: UInt64 = 0
    var nextFileNumber: UInt64 = 1
    var logNumber: UInt64 = 0
    /// WALs that may still hold commits no SST does (numbered ≥ `logNumber` once a flush moves it).
    var liveLogs: [UInt64] = []
    /// Obsolete WALs kept for reuse (setting `recycle_wal`), oldest first.
    var recycledLogs: [UInt64] = []
    /// The first WAL this process created: it and later ones are in the recyclable layout, so
    /// only they may be recycled (an older WAL's legacy records could not be told from new ones).
    var firstOwnLog: UInt64 = .max
    /// What to compact next (with each level's compact pointer).
    var compactionPolicy: CompactionPolicy
    var failure: StoreError?
    /// Set once `init` has recovered the store (a failed open never counts as open).
    var isOpen = false
    /// Set when `close()` (or a simulated crash) begins: new calls fail with `closed`.
    var closing = false

    // MARK: Under `maintenanceLock`

    let maintenanceLock = Lock()
    var manifest: LogWriter!
    var manifestNumber: UInt64 = 0

    // MARK: Readers'

    /// The view readers start from (an unmanaged reference the store holds), `nil` once closed.
    /// Readers load it inside a `ReaderEpochs` section, without retaining it.
    private let currentView = Atomic<UnsafeMutableRawPointer?>(nil)
    /// Views replaced and not yet released, with the epoch after which no reader can hold them
    /// unretained. Under `lock`.
    var retiredViews: [(view: Unmanaged<ReadView>, epoch: UInt64)] = []
    /// Taken by readers without an epoch slot while they retain the view, and by `reclaimViews`
    /// while it releases views, so the two never cross.
    private let viewLock = Lock()
    /// Cleared when the store closes or fails, so reads stop without taking `lock`.
    let usable = Atomic<Bool>(false)

    /// Set in `init`, stopped (never cleared) by `close()`.
    var background: MaintenanceThread?
    private var syncThread: MaintenanceThread?

    /// What open found and did.
    public struct RecoveryReport: Sendable, Equatable {
        public var walFiles = 0
        /// WAL commits applied to the memtable (newer than the SSTs' highest complete sequence).
        public var replayedCommits = 0
        /// WAL commits skipped because the SSTs already hold them.
        public var skippedCommits = 0
        /// Bytes cut from torn WAL tails.
        public var truncatedBytes = 0
        /// The SSTs' highest complete sequence found in the MANIFEST.
        public var persistedSequence: UInt64 = 0
        public var sstFiles = 0
    }

    public internal(set) var recoveryReport = RecoveryReport()

    public var effectiveSettings: [String: String] { settings.effective }

    public init(directory: String, options: StoreOptions) throws {
        settings = try LSMSettings(options)
        compactionPolicy = CompactionPolicy(settings: settings)
        durability = options.durability
        writers = GroupCommitQueue(gathersReturningWriters: options.durability == .always)
        cache = BlockCache(capacity: settings.blockCacheBytes)
        memtable = Memtable(writeBufferSize: settings.writeBufferSize)
        lockedDirectory = try LockedDirectory.open(
            path: directory, engine: Self.engineName, formatVersion: Self.formatVersion,
            options: options, metrics: metrics)
        recordBuffer.reserveCapacity(1 << 12)
        try recover()
        lock.withLock {
            isOpen = true
            publishView()
        }
        usable.store(true, ordering: .releasing)
        // Unowned: a weak reference would give the store a side table, which makes every retain
        // of it (one per commit) take the slow path. The threads never outlive the store: close()
        // and deinit stop and join them first.
        background = MaintenanceThread { [unowned(unsafe) self] in self.runMaintenance() }
        obsoleteFiles.attach(background)
        background?.wake()
        if durability == .interval {
            syncThread = MaintenanceThread(period: max(1, options.syncIntervalMilliseconds)) { [unowned(unsafe) self] in self.syncIfDirty() }
        }
    }

    deinit {
        if isOpen { try? close() }
        // After a close() that failed early, or a simulated crash, the threads may still run.
        background?.stop()
        syncThread?.stop()
    }

    /// Throws why the store cannot be used, if it cannot. Call holding `lock`.
    @inline(__always)
    func checkUsable() throws {
        guard isOpen && !closing else { throw StoreError.closed }
        if let failure {
            throw StoreError.io(call: "earlier write", errno: EIO, path: "\(storage.path) (store stopped after: \(failure); reopen it)")
        }
    }

    /// Records the first failure: the store stops taking writes and reads until reopened. Call
    /// holding `lock`.
    func setFailure(_ error: any Error) {
        if failure == nil {
            failure = error as? StoreError ?? .io(call: "write", errno: EIO, path: storage.path)
        }
        usable.store(false, ordering: .releasing)
        lock.broadcast()
    }

    /// The error a call meets once the store is closed or failed.
    func unusableError() -> any Error {
        lock.withLock {
            do { try checkUsable() } catch { return error }
            return StoreError.closed
        }
    }

    /// Makes the current memtables and version the view new readers take (none once closed),
    /// and retires the previous one. Call holding `lock`.
    func publishView() {
        let view: Unmanaged<ReadView>? = isOpen && !closing
            ? .passRetained(ReadView(memtable: memtable, immutable: immutable, version: version)) : nil
        if let previous = currentView.exchange(view?.toOpaque(), ordering: .sequentiallyConsistent) {
            retiredViews.append((Unmanaged.fromOpaque(previous), ReaderEpochs.shared.advance()))
        }
        reclaimViews()
    }

    /// Releases the retired views no reader can still be reading unretained; their memtables
    /// and versions (and so the files only they name) go when the last scan holding one ends.
    /// Call holding `lock`. Returns whether any remain.
    @discardableResult
    func reclaimViews() -> Bool {
        guard !retiredViews.isEmpty else { return false }
        let oldest = ReaderEpochs.shared.oldestReader()
        viewLock.lock()
        retiredViews.removeAll { retired in
            guard retired.epoch <= oldest else { return false }
            retired.view.release()
            return true
        }
        viewLock.unlock()
        return !retiredViews.isEmpty
    }

    /// Runs `body` on the current view and the snapshot to read at, taken together. Inside an
    /// epoch section the view is used without retaining it; a thread without a slot retains it.
    @inline(__always)
    func withView<T>(_ body: (ReadView, UInt64) throws -> T) throws -> T {
        let epochs = ReaderEpochs.shared
        guard let slot = epochs.currentSlot() else {
            let (view, snapshot) = try acquireView()
            return try body(view, snapshot)
        }
        epochs.enter(slot)
        defer { epochs.leave(slot) }
        guard let raw = currentView.load(ordering: .sequentiallyConsistent), usable.load(ordering: .acquiring) else {
            throw unusableError()
        }
        let snapshot = lastSequence.load(ordering: .acquiring)
        return try Unmanaged<ReadView>.fromOpaque(raw)._withUnsafeGuaranteedRef { try body($0, snapshot) }
    }

    /// The current view, retained (for scans, which hold it throughout), and its snapshot.
    func acquireView() throws -> (view: ReadView, snapshot: UInt64) {
        let epochs = ReaderEpochs.shared
        if let slot = epochs.currentSlot() {
            epochs.enter(slot)
            defer { epochs.leave(slot) }
            guard let raw = currentView.load(ordering: .sequentiallyConsistent), usable.load(ordering: .acquiring) else {
                throw unusableError()
            }
            return (Unmanaged<ReadView>.fromOpaque(raw).takeUnretainedValue(), lastSequence.load(ordering: .acquiring))
        }
        viewLock.lock()
        let view = currentView.load(ordering: .sequentiallyConsistent).map { Unmanaged<ReadView>.fromOpaque($0).takeUnretainedValue() }
        let snapshot = lastSequence.load(ordering: .acquiring)
        viewLock.unlock()
        guard let view, usable.load(ordering: .acquiring) else { throw unusableError() }
        return (view, snapshot)
    }

    // MARK: Reads

    public func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        try withView { view, snapshot in
            try key.withUnsafeBytes { key in try view.get(key, snapshot: snapshot, cache: cache, into: &value) }
        }
    }

    @discardableResult
    public func scan(
        from start: [UInt8], limit: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        let (view, snapshot) = try acquireView()
        guard limit > 0 else { return 0 }
        // The view stays held to the end: its version keeps the SSTs being read on disk.
        return try withExtendedLifetime(view) {
            var merged = MergingIterator(view.sources(snapshot: snapshot, cache: cache))
            try merged.seek(start)
            var visited = 0
            while merged.isValid {
                let delivered = try merged.withValue { value -> Bool in
                    guard let value else { return false }
                    try merged.key.withUnsafeBytes { try body($0, value) }
                    return true
                }
                if delivered {
                    visited += 1
                    if visited == limit { break }
                }
                try merged.next()
            }
            return visited
        }
    }

    // MARK: Close, statistics

    /// A clean close flushes the memtable to an SST, so the next open replays no WAL. It runs as
    /// the last write leader: commits queued behind it fail with `closed`.
    public func close() throws {
        try lock.withLock {
            guard isOpen && !closing else { throw StoreError.closed }
            closing = true
            usable.store(false, ordering: .releasing)
            lock.broadcast()
        }
        background?.stop()
        syncThread?.stop()
        var closeError: (any Error)?
        var failed: StoreError?
        do {
            try writers.commit(.exclusive, weight: 1, alone: true) { _ in
                maintenanceLock.withLock {
                    do {
                        if lock.withLock({ failure == nil }) {
                            try flushImmutable()
                            if !memtable.isEmpty {
                                try freezeMemtable()
                                try flushImmutable()
                            }
                        }
                    } catch {
                        closeError = error
                    }
                    // A failure background work met and no write has reported yet is reported here.
                    failed = lock.withLock { failure }
                    if failed == nil && closeError == nil {
                        try? wal.sync()
                        try? deleteObsoleteFiles()
                        // Kept WALs are for this session's next WALs; the next open starts afresh.
                        let kept = lock.withLock { () -> [UInt64] in
                            defer { recycledLogs.removeAll() }
                            return recycledLogs
                        }
                        try? storage.remove(kept.map(FileNames.wal))
                    }
                    releaseFiles()
                }
            }
        } catch {
            closeError = closeError ?? error
        }
        if let closeError { throw closeError }
        if let failed { throw failed }
    }

    /// Marks the store closed and lets go of its files and its directory lock. Call as the write
    /// leader holding `maintenanceLock`, so no WAL or MANIFEST write runs beside it. SSTs close
    /// as the last reader in flight lets go of them.
    func releaseFiles() {
        lock.withLock {
            isOpen = false
            closing = true
            usable.store(false, ordering: .releasing)
            wal?.close()
            manifest?.file.close()
            version = Version()
            immutable = nil
            publishView()
            lock.broadcast()
        }
        // Readers inside a get finish within microseconds; then every view goes (scans still
        // running keep theirs, retained).
        while lock.withLock({ reclaimViews() }) { sched_yield() }
        memtable = Memtable(writeBufferSize: 0)
        lockedDirectory.release()
    }

    public func statistics() throws -> StoreStatistics {
        try lock.withLock {
            try checkUsable()
            var statistics = try storage.usage()
            statistics.cacheHits = cache.hits
            statistics.cacheMisses = cache.misses
            return statistics
        }
    }

    /// Files per level, for tests and reports.
    public func levelSummary() -> [(files: Int, bytes: Int)] {
        lock.withLock { version.layout.levels.map { ($0.count, $0.reduce(0) { $0 + $1.size }) } }
    }

    /// Groups the writer queue formed and the commits, syncs and other requests they held.
    public var writeGroups: (groups: Int, requests: Int) { writers.counts }
}

extension LSMStore: CrashSimulating {
    /// Stops the background threads and releases files and the lock without flushing the
    /// memtable or syncing: the next open must recover from the WAL.
    public func simulateCrash() {
        let open = lock.withLock { () -> Bool in
            guard isOpen && !closing else { return false }
            closing = true
            usable.store(false, ordering: .releasing)
            lock.broadcast()
            return true
        }
        guard open else { return }
        background?.stop()
        syncThread?.stop()
        try? writers.commit(.exclusive, weight: 1, alone: true) { _ in
            maintenanceLock.withLock { releaseFiles() }
        }
    }
}
