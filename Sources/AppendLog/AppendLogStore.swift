import StoreCore

/// The `log` engine: every change is appended to a segment file as a checksummed record, an
/// in-memory ordered keydir maps each key to its newest record (so `get` is one pread), and
/// compaction rewrites live records to reclaim what overwrites and deletes left behind.
///
/// Lock discipline: `lock` guards the keydir, the segment table and the counters; the caller's
/// thread and the merge thread take it for every access. `maintenanceLock` serialises compactions
/// (full or incremental) and is always taken before `lock`.
public final class AppendLogStore: Store, @unchecked Sendable {
    public static let engineName = "log"
    public static let formatVersion = 1

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
    public let metrics = StoreMetrics()

    let settings: AppendLogSettings
    let durability: Durability
    let syncInterval: Int
    let lockedDirectory: LockedDirectory
    var storage: StorageDirectory { lockedDirectory.directory }

    let lock = Lock()
    let maintenanceLock = Lock()
    var keydir = OrderedKeyMap<Location>()
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
    /// Commits written since the last sync (for `Durability.interval`).
    var unsynced = false
    /// Incremental mode: the policy asked for a merge since the last one.
    var mergeWanted = false
    /// What recovery did on open.
    public var recoveryReport: RecoveryReport { recoveryReportStorage }
    var recoveryReportStorage = RecoveryReport()

    private var writeBuffer: [UInt8] = []
    private var readBuffer: [UInt8] = []
    /// Writes hints for sealed segments and, in incremental mode, merges fragmented ones.
    private var maintenanceThread: MaintenanceThread?
    private var syncThread: MaintenanceThread?

    /// Sums over all segments, kept in step so the policy check is O(1).
    struct Totals {
        var size = 0
        var liveBytes = 0
        var records = 0
        var deadRecords = 0
    }

    /// What open found and did.
    public struct RecoveryReport: Sendable, Equatable {
        public var segmentsScanned = 0
        public var segmentsFromHints = 0
        /// Hints that were present but damaged (their segment was scanned instead).
        public var damagedHints = 0
        /// Bytes cut from the newest segment's torn tail.
        public var truncatedBytes = 0
        /// Leftover temporary files removed.
        public var removedTemporaryFiles = 0
    }

    public init(directory: String, options: StoreOptions) throws {
        settings = try AppendLogSettings(options)
        durability = options.durability
        syncInterval = max(1, options.syncIntervalMilliseconds)
        lockedDirectory = try LockedDirectory.open(
            path: directory, engine: Self.engineName, formatVersion: Self.formatVersion,
            options: options, metrics: metrics)
        writeBuffer.reserveCapacity(64 << 10)
        try recover()
        maintenanceThread = MaintenanceThread { [weak self] in self?.runMaintenance() }
        if durability == .interval {
            syncThread = MaintenanceThread(period: syncInterval) { [weak self] in self?.syncIfDirty() }
        }
    }

    deinit {
        if isOpen { try? close() }
    }

    // MARK: Writes

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        try StoreLimits.check(valueSize: value.count)
        writeBuffer.removeAll(keepingCapacity: true)
        LogRecord.append(.put, selfCommitting: true, key: key, value: value, to: &writeBuffer)
        try commit(userBytes: key.count + value.count) { segment, base in
            key.withUnsafeBytes { key in
                self.notePut(key, Location(segment: segment.slot, offset: UInt32(base), length: UInt32(self.writeBuffer.count)), in: segment)
            }
        }
    }

    public func delete(_ key: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        let present = try lock.withLock { () throws -> Bool in
            try checkUsable()
            return keydir.value(forKey: key) != nil
        }
        metrics.addUserBytes(key.count)
        // Deleting an absent key changes nothing, so nothing is written.
        guard present else { return }
        writeBuffer.removeAll(keepingCapacity: true)
        LogRecord.append(.delete, selfCommitting: true, key: key, value: [], to: &writeBuffer)
        try commit(userBytes: 0) { segment, _ in
            key.withUnsafeBytes { key in self.noteDelete(key, recordSize: self.writeBuffer.count, in: segment) }
        }
    }

    public func apply(_ batch: WriteBatch) throws {
        try batch.validate()
        guard !batch.isEmpty else {
            try lock.withLock { try checkUsable() }
            return
        }
        writeBuffer.removeAll(keepingCapacity: true)
        var offsets: [Int] = []
        offsets.reserveCapacity(batch.count)
        for operation in batch.operations {
            offsets.append(writeBuffer.count)
            switch operation {
            case let .put(key, value):
                LogRecord.append(.put, selfCommitting: false, key: key, value: value, to: &writeBuffer)
            case let .delete(key):
                LogRecord.append(.delete, selfCommitting: false, key: key, value: [], to: &writeBuffer)
            }
        }
        let recordsEnd = writeBuffer.count
        LogRecord.appendCommit(count: batch.count, to: &writeBuffer)
        try commit(userBytes: batch.userBytes) { segment, base in
            for (index, operation) in batch.operations.enumerated() {
                let end = index + 1 < offsets.count ? offsets[index + 1] : recordsEnd
                let length = end - offsets[index]
                switch operation {
                case let .put(key, _):
                    key.withUnsafeBytes { key in
                        self.notePut(key, Location(segment: segment.slot, offset: UInt32(base + offsets[index]), length: UInt32(length)), in: segment)
                    }
                case let .delete(key):
                    key.withUnsafeBytes { key in self.noteDelete(key, recordSize: length, in: segment) }
                }
            }
        }
    }

    /// Appends `writeBuffer` to the active segment as one commit, syncs it as the durability
    /// option asks, then lets `apply` update the keydir (with the segment and the commit's offset).
    /// A failed write is cut back off the file so the segment never holds a partial commit.
    private func commit(userBytes: Int, _ apply: (Segment, Int) -> Void) throws {
        lock.lock()
        do {
            try checkUsable()
            if active.size > 0 && active.size + writeBuffer.count > settings.segmentSize {
                try startActiveSegment()
                maintenanceThread?.wake()  // the sealed segment needs its hint
            }
            guard active.size + writeBuffer.count <= Int(UInt32.max) else {
                throw StoreError.invalidArgument("a commit of \(writeBuffer.count) bytes does not fit in one segment (4 GiB)")
            }
            let segment = active!
            let base = segment.size
            do {
                try segment.file.write(writeBuffer, at: Int64(base))
                if durability == .always { try segment.file.syncData() }
            } catch {
                do {
                    try segment.file.truncate(to: Int64(base))
                } catch {
                    failure = error
                }
                // An fsync failure leaves the page cache's state unknown: stop writing until reopen.
                if durability == .always { failure = failure ?? error }
                throw error
            }
            segment.size += writeBuffer.count
            totals.size += writeBuffer.count
            metrics.addUserBytes(userBytes)
            apply(segment, base)
            unsynced = durability != .always
        } catch {
            lock.unlock()
            throw error
        }
        let compactNow = shouldCompact()
        lock.unlock()
        if compactNow {
            switch settings.mode {
            case .full: try compactFully(trigger: "policy")
            case .incremental:
                mergeWanted = true
                maintenanceThread?.wake()
            }
        }
    }

    /// Records that `key` now lives at `location` in `segment`.
    func notePut(_ key: UnsafeRawBufferPointer, _ location: Location, in segment: Segment) {
        if let old = keydir.insert(location, forKey: key) { noteSuperseded(old) }
        segment.liveBytes += Int(location.length)
        segment.records += 1
        totals.liveBytes += Int(location.length)
        totals.records += 1
    }

    /// Records a tombstone for `key` of `recordSize` bytes in `segment`.
    func noteDelete(_ key: UnsafeRawBufferPointer, recordSize: Int, in segment: Segment) {
        if let old = keydir.removeValue(forKey: key) { noteSuperseded(old) }
        segment.records += 1
        segment.deadRecords += 1
        segment.tombstoneBytes += recordSize
        totals.records += 1
        totals.deadRecords += 1
    }

    /// The record at `location` is no longer current.
    func noteSuperseded(_ location: Location) {
        guard let segment = segments[Int(location.segment)] else { return }
        segment.liveBytes -= Int(location.length)
        segment.deadRecords += 1
        totals.liveBytes -= Int(location.length)
        totals.deadRecords += 1
    }

    /// Whether the compaction policy asks for a compaction now. Call holding `lock`.
    func shouldCompact() -> Bool {
        switch settings.policy {
        case .manual:
            return false
        case .ratio:
            let dead = totals.size - totals.liveBytes
            return dead >= settings.minimumDeadBytes && Double(dead) >= settings.ratio * Double(totals.size)
        case .hive:
            return totals.deadRecords > 60 && Double(totals.deadRecords) > 0.15 * Double(totals.records)
        }
    }

    @inline(__always)
    func checkUsable() throws(StoreError) {
        guard isOpen else { throw .closed }
        if let failure {
            throw .io(call: "earlier write", errno: 5, path: "\(storage.path) (store stopped after: \(failure); reopen it)")
        }
    }

    // MARK: Reads

    public func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        try checkUsable()
        guard let location = keydir.value(forKey: key) else { return false }
        try key.withUnsafeBytes { expected in
            try readRecord(at: location, key: expected) { _, stored in
                value.removeAll(keepingCapacity: true)
                value.append(contentsOf: stored)
            }
        }
        return true
    }

    @discardableResult
    public func scan(
        from start: [UInt8], limit: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        try checkUsable()
        guard limit > 0 else { return 0 }
        var visited = 0
        try keydir.forEach(from: start) { key, location in
            try readRecord(at: location, key: key, body)
            visited += 1
            return visited < limit
        }
        return visited
    }

    /// Reads the record at `location` with one pread, verifies its CRC, type and key, and hands
    /// the key and value to `body`. Call holding `lock`.
    func readRecord(
        at location: Location, key expectedKey: UnsafeRawBufferPointer?,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        guard let segment = segments[Int(location.segment)] else {
            throw StoreError.corrupted(file: storage.path, offset: Int64(location.offset), reason: "index points at a missing segment")
        }
        let length = Int(location.length)
        if readBuffer.count < length { readBuffer = [UInt8](repeating: 0, count: length) }
        let file = segment.file
        try readBuffer.withUnsafeMutableBytes { raw in
            let record = UnsafeMutableRawBufferPointer(rebasing: raw[0..<length])
            try file.readExactly(into: record, at: Int64(location.offset))
            let bytes = UnsafeRawBufferPointer(record)
            func corrupt(_ reason: String) -> StoreError {
                .corrupted(file: file.path, offset: Int64(location.offset), reason: reason)
            }
            guard length >= LogRecord.headerSize, LogRecord.checksumMatches(bytes) else {
                throw corrupt("checksum mismatch in the \(length)-byte record of a live key")
            }
            guard case let .success(header) = LogRecord.header(bytes), header.kind == .put, header.size == length else {
                throw corrupt("record does not match the index")
            }
            let key = UnsafeRawBufferPointer(rebasing: bytes[LogRecord.headerSize..<(LogRecord.headerSize + header.keyCount)])
            if let expectedKey, KeyOrder.compare(expectedKey, key) != 0 {
                throw corrupt("record holds another key than the index says")
            }
            try body(key, UnsafeRawBufferPointer(rebasing: bytes[(LogRecord.headerSize + header.keyCount)...]))
        }
    }

    // MARK: Sync, close, statistics

    public func sync() throws {
        try lock.withLock { () throws in
            try checkUsable()
            try active.file.syncData()
            unsynced = false
        }
    }

    /// `Durability.interval`: called by the sync thread every interval.
    private func syncIfDirty() {
        lock.withLock {
            guard isOpen, unsynced, failure == nil else { return }
            do {
                try active.file.syncData()
                unsynced = false
            } catch {
                failure = error as? StoreError
            }
        }
    }

    public func compact() throws {
        try lock.withLock { try checkUsable() }
        try compactFully(trigger: "manual")
    }

    public func close() throws {
        try lock.withLock {
            guard isOpen else { throw StoreError.closed }
        }
        maintenanceThread?.stop()
        syncThread?.stop()
        maintenanceThread = nil
        syncThread = nil
        // A clean close leaves a hint for every segment, the active one included, so the next
        // open merges hints instead of reading records.
        if lock.withLock({ failure == nil }) {
            try? writeMissingHints(includingActive: true)
        }
        try maintenanceLock.withLock {
            try lock.withLock {
                defer {
                    isOpen = false
                    for segment in segments { segment?.file.close() }
                    segments.removeAll()
                    keydir.removeAll()
                    lockedDirectory.release()
                }
                // A clean close leaves everything on stable storage, whatever the durability.
                if failure == nil, let active { try active.file.syncData() }
                // A failure background work met and no write has reported yet is reported here.
                if let failure { throw failure }
            }
        }
    }

    public func statistics() throws -> StoreStatistics {
        try lock.withLock {
            try checkUsable()
            var statistics = try storage.usage()
            statistics.liveBytes = totals.liveBytes
            statistics.deadBytes = totals.size - totals.liveBytes
            statistics.keyCount = keydir.count
            return statistics
        }
    }

    /// Per-segment accounting, oldest first: for tests and `verify`.
    public func segmentSummaries() -> [(id: UInt64, size: Int, liveBytes: Int, records: Int, deadRecords: Int)] {
        lock.withLock {
            segments.compactMap { $0 }.sorted { $0.id < $1.id }
                .map { ($0.id, $0.size, $0.liveBytes, $0.records, $0.deadRecords) }
        }
    }

    // MARK: Segment table

    /// Adds a segment whose file is open. Call holding `lock` (or during open).
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

    /// Drops a segment from the table (its file stays open until the caller closes it).
    func removeSegment(_ segment: Segment) {
        segments[Int(segment.slot)] = nil
        freeSlots.append(segment.slot)
        totals.size -= segment.size
        totals.liveBytes -= segment.liveBytes
        totals.records -= segment.records
        totals.deadRecords -= segment.deadRecords
    }

    /// Seals the active segment and starts a new, empty one.
    func startActiveSegment() throws {
        if let active, durability != .none, active.size > 0 { try active.file.syncData() }
        let id = nextBlockId
        nextBlockId += Segment.idBlock
        let file = try storage.create(Segment.fileName(id))
        active = addSegment(id: id, file: file, size: 0)
    }
}
