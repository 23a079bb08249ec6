import StoreCore
import Synchronization

/// The `log` engine: every change is appended to a segment file as a checksummed record, an
/// in-memory ordered keydir maps each key to its newest record (so `get` is one pread), and
/// compaction rewrites live records to reclaim what overwrites and deletes left behind.
///
/// Concurrency, as Bitcask: readers run beside each other and beside the writer. A `get` looks
/// the key up under `stateLock` held shared, pins the record's segment, lets the lock go, and
/// preads the record with no store-wide lock held (through a stack buffer, or straight into the
/// caller's buffer when it is large), checks its CRC and copies the value out. Writers queue in
/// a `GroupCommitQueue`: the leader appends every queued commit with one pwrite (and under
/// `always` one fdatasync), then publishes the group's keydir changes under `stateLock` held
/// exclusively, so a reader sees each commit whole or not at all, and only once it is written
/// (and synced).
/// Compaction takes retired segments out of the table and closes and unlinks their files only
/// once no reader holds a pin on them (`Segment`).
///
/// Lock discipline, in the order they are taken:
/// - `maintenanceLock` serialises compactions (full or incremental), hint writing and close.
/// - `syncLock` serialises `sync()` and the interval sync thread.
/// - `writeLock` serialises what writes to the active segment: the group leader, full
///   compaction (it blocks writers), the collection step of a sync, close. It guards
///   `writeBuffer`, `nextBlockId` and every segment's `needsSync`.
/// - `stateLock` (reader-writer, striped so that readers on different cores do not contend)
///   guards the keydir, the segment table, `totals` and segment accounting. Readers hold it
///   shared only around the lookup (a scan: for its whole run).
/// `active`, `isOpen`, `failure` and a segment's `size` change holding both `writeLock` and
/// `stateLock` exclusively, so either lock is enough to read them.
public final class AppendLogStore: Store, @unchecked Sendable {
    public static let engineName = "log"
    /// 2: the active segment may end in preallocated zeros (FORMAT.md, "Preallocated space");
    /// format-1 stores open unchanged.
    public static let formatVersion = 2

    public static let descriptor = EngineDescriptor(
        name: engineName,
        strategy: "append-only log + in-memory index",
        summary: "Bitcask-style segments with CRC'd records, ordered keydir, hint files, ratio/hive compaction",
        isPersistent: true,
        hasBackgroundMaintenance: true,
        stressSettings: ["segment_size": "16KiB", "compaction_min_dead": "8KiB"]
    ) { directory, options in
        try AppendLogStore(directory: directory, options: options)
    }

    public var engineName: String { Self.engineName }
    /// Every setting the store runs with, the variant it was created with included.
    public var effectiveSettings: [String: String] { settings.effective }
    public let metrics = StoreMetrics()

    /// Fixed in `init`; the variant is resolved against the store's `VARIANT` file there.
    private(set) var settings: AppendLogSettings
    /// `deletes=tombstone-file`: the tombstone file (set once, in `init`).
    var tombstones: TombstoneFile?
    let durability: Durability
    let syncInterval: Int
    let lockedDirectory: LockedDirectory
    var storage: StorageDirectory { lockedDirectory.directory }

    let maintenanceLock = Lock()
    let syncLock = Lock()
    let writeLock = Lock()
    let stateLock = StripedReadWriteLock()
    /// Writers wait here; the leader of each group writes it (`writeGroup`).
    let writers: GroupCommitQueue<WriteRequest>
    let keydir = OrderedKeyMap<Location>()
    /// Segments by slot; a slot is reused once its segment is gone.
    var segments: [Segment?] = []
    var freeSlots: [UInt32] = []
    var active: Segment!
    /// Id of the next segment the store starts (a multiple of `Segment.idBlock`).
    var nextBlockId: UInt64 = Segment.idBlock
    var totals = Totals()
    /// Set after a failure that leaves memory and files out of step; only reopening clears it.
    var failure: StoreError?
    var isOpen = true
    /// Set by the first `close()`; later ones throw `closed`.
    let closing = Atomic<Bool>(false)
    /// Incremental mode: the policy asked for a merge since the last one.
    let mergeWanted = Atomic<Bool>(false)
    /// What recovery did on open.
    public var recoveryReport: RecoveryReport { recoveryReportStorage }
    var recoveryReportStorage = RecoveryReport()

    /// The group leader's encoding buffer (guarded by `writeLock`).
    var writeBuffer: [UInt8] = []
    /// Writes hints for sealed segments and, in incremental mode, merges fragmented ones. Set once
    /// in `init`.
    private(set) var maintenanceThread: MaintenanceThread?
    private var syncThread: MaintenanceThread?

    #if DEBUG
    /// Tests: runs in `get` after the segment is pinned and the lock released, before the pread.
    var afterPinHook: ((AppendLogStore) -> Void)?
    #endif

    /// Sums over all segments, kept in step so the policy check is O(1).
    struct Totals {
        var size = 0
        var liveBytes = 0
        var records = 0
        var deadRecords = 0
        /// `deletes=tombstone-file`: bytes of the tombstone file, all dead until a vacuum.
        var tombstoneFileBytes = 0
    }

    /// What open found and did.
    public struct RecoveryReport: Sendable, Equatable {
        public var segmentsScanned = 0
        public var segmentsFromHints = 0
        /// Hints that were present but damaged (their segment was scanned instead).
        public var damagedHints = 0
        /// Bytes cut from the newest segment's torn tail.
        public var truncatedBytes = 0
        /// Zero bytes cut from the newest segment: preallocated space its commits had not reached.
        public var preallocatedBytes = 0
        /// Leftover temporary files removed.
        public var removedTemporaryFiles = 0
    }

    public init(directory: String, options: StoreOptions) throws {
        settings = try AppendLogSettings(options)
        durability = options.durability
        syncInterval = max(1, options.syncIntervalMilliseconds)
        // A group is bounded so that it fits a segment a few times over: the active segment is
        // sealed before a group that would overflow it, so segments stay near `segment_size`.
        // Under `always` each group write ends in an fdatasync: gather the returning writers.
        writers = GroupCommitQueue(
            maxGroupWeight: min(1 << 20, max(4096, settings.segmentSize / 4)),
            gathersReturningWriters: options.durability == .always)
        lockedDirectory = try LockedDirectory.open(
            path: directory, engine: Self.engineName, formatVersion: Self.formatVersion,
            options: options, metrics: metrics)
        writeBuffer.reserveCapacity(64 << 10)
        try settings.resolve(recorded: try StoreVariant.readOrRecord(in: lockedDirectory.directory, requested: settings), path: directory)
        try recover()
        maintenanceThread = MaintenanceThread { [weak self] in self?.runMaintenance() }
        if durability == .interval {
            syncThread = MaintenanceThread(period: syncInterval) { [weak self] in self?.syncIfDirty() }
        }
    }

    deinit {
        if !closing.load(ordering: .relaxed) { try? close() }
    }

    /// Throws when the store is closed or stopped after a failure. Call holding `writeLock` or
    /// `stateLock`.
    @inline(__always)
    func checkUsable() throws(StoreError) {
        guard isOpen else { throw .closed }
        if let failure {
            throw .io(call: "earlier write", errno: 5, path: "\(storage.path) (store stopped after: \(failure); reopen it)")
        }
    }

    /// Stops the store after `error` (memory and files may disagree). Call holding `writeLock`.
    func noteFailureHoldingWriteLock(_ error: any Error) {
        stateLock.withExclusiveLock {
            if failure == nil { failure = error as? StoreError }
        }
    }

    /// Stops the store after `error`. Call holding neither `writeLock` nor `stateLock`.
    func noteFailure(_ error: any Error) {
        writeLock.withLock { noteFailureHoldingWriteLock(error) }
    }

    // MARK: Close, statistics

    public func close() throws {
        guard !closing.exchange(true, ordering: .acquiringAndReleasing) else { throw StoreError.closed }
        // The threads take the locks below: stop them first.
        maintenanceThread?.stop()
        syncThread?.stop()
        try maintenanceLock.withLock {
            // From here no writer, merge, hint writer or sync starts; calls that come see `closed`.
            let (failed, all) = writeLock.withLock {
                stateLock.withExclusiveLock { () -> (StoreError?, [Segment]) in
                    isOpen = false
                    return (failure, segments.compactMap { $0 })
                }
            }
            defer {
                // Readers that pinned a segment before `isOpen` fell finish their pread first.
                for segment in all {
                    segment.waitUntilUnpinned()
                    segment.file.close()
                }
                stateLock.withExclusiveLock {
                    segments.removeAll()
                    keydir.removeAll()
                }
                tombstones?.file.close()
                lockedDirectory.release()
            }
            // A failure background work met and no write has reported yet is reported here.
            if let failed {
                for segment in all { segment.space?.finish() }
                throw failed
            }
            try tombstones?.sealAndSync()
            for segment in all { try segment.cutPreallocatedSpace() }
            // A clean close leaves a hint for every segment, the active one included, so the next
            // open merges hints instead of reading records.
            try? writeHints(for: all, includingActive: true)
            // A clean close leaves everything on stable storage, whatever the durability.
            for segment in all where segment.needsSync {
                try segment.file.syncData()
                segment.needsSync = false
            }
        }
    }

    public func statistics() throws -> StoreStatistics {
        try stateLock.withSharedLock {
            try checkUsable()
            var statistics = try storage.usage()
            statistics.liveBytes = totals.liveBytes
            statistics.deadBytes = totals.size - totals.liveBytes + totals.tombstoneFileBytes
            statistics.keyCount = keydir.count
            return statistics
        }
    }

    /// Per-segment accounting, oldest first: for tests and `verify`.
    public func segmentSummaries() -> [(id: UInt64, size: Int, liveBytes: Int, records: Int, deadRecords: Int)] {
        stateLock.withSharedLock {
            segments.compactMap { $0 }.sorted { $0.id < $1.id }
                .map { ($0.id, $0.size, $0.liveBytes, $0.records, $0.deadRecords) }
        }
    }

    // MARK: Segment table

    /// Adds a segment whose file is open. Call holding `stateLock` exclusively (or during open).
    func addSegment(id: UInt64, file: DurableFile, size: Int, hasHint: Bool = false) -> Segment {
        let slot: UInt32
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = UInt32(segments.count)
            segments.append(nil)
        }
        let segment = Segment(id: id, slot: slot, file: file, size: size)
        segment.hasHint = hasHint
        segments[Int(slot)] = segment
        totals.size += size
        return segment
    }

    /// Drops a segment from the table (its file stays open until the caller retires it). Call
    /// holding `stateLock` exclusively (or during open).
    func removeSegment(_ segment: Segment) {
        segments[Int(segment.slot)] = nil
        freeSlots.append(segment.slot)
        totals.size -= segment.size
        totals.liveBytes -= segment.liveBytes
        totals.records -= segment.records
        totals.deadRecords -= segment.deadRecords
    }

    /// Seals the active segment and starts a new, empty one. Call holding `writeLock` (or during
    /// open).
    ///
    /// The sealed segment is synced before the next one exists, whatever the durability: a power
    /// loss could otherwise keep a newer segment's records while losing the sealed one's unsynced
    /// tail, a state that matches no prefix of the commits (FORMAT.md, "Segment ids"). The sync
    /// does not rely on `needsSync`: the interval thread clears it before its own fsync of the
    /// segment has finished. Under `always` every commit in it was synced already.
    func startActiveSegment() throws {
        if let active {
            do {
                // Tombstones first: the segment may hold commits whose tombstones are there.
                try syncTombstonesIfNeeded()
                try active.cutPreallocatedSpace()
                if durability != .always && active.size > 0 {
                    try active.file.syncData()
                    active.needsSync = false
                }
            } catch {
                // Linux marks the pages clean after a failed fsync: unsynced commits may be gone
                // for good, so nothing written later may become durable. Stop until reopen.
                noteFailureHoldingWriteLock(error)
                throw error
            }
        }
        let id = nextBlockId
        nextBlockId += Segment.idBlock
        let file = try storage.create(Segment.fileName(id))
        let space = try preallocatedSpace(for: file)
        stateLock.withExclusiveLock {
            active = addSegment(id: id, file: file, size: 0)
            active.space = space
        }
    }

    /// Zero-filled space ahead of a new active segment's writes (setting `preallocate`), never
    /// past `segment_size`, where the segment is sealed.
    func preallocatedSpace(for file: DurableFile) throws -> PreallocatedSpace? {
        guard settings.preallocate else { return nil }
        return try PreallocatedSpace(file: file, start: 0, limit: settings.segmentSize)
    }
}
