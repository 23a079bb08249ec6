#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// The `lsm` engine: commits go to a WAL and a memtable; full memtables are flushed to SSTs on a
/// background thread, which also runs leveled compaction. Every commit is one WAL record with one
/// sequence number, applied to one memtable whole, so every SST knows the last commit it holds
/// completely — and recovery replays only newer WAL commits.
///
/// Lock discipline: `lock` guards the memtables, the WAL, the version and the counters;
/// `maintenanceLock` serialises flushes and compactions and is taken before `lock`. SST merges
/// and writes run with only `maintenanceLock` held, so writers go on meanwhile.
public final class LSMStore: Store, @unchecked Sendable {
    public static let engineName = "lsm"
    public static let formatVersion = 1
    /// Levels 0 … 6.
    static let levels = 7

    public static let descriptor = EngineDescriptor(
        name: engineName,
        strategy: "LSM tree: WAL, memtable, leveled SSTs",
        summary: "WAL in 32 KiB blocks, memtable, SSTs with bloom filters and block cache, leveled compaction, write stalls",
        isPersistent: true,
        hasBackgroundMaintenance: true,
        stressSettings: ["write_buffer_size": "32KiB", "level1_size": "128KiB", "target_file_size": "32KiB", "block_size": "1KiB"]
    ) { directory, options in
        try LSMStore(directory: directory, options: options)
    }

    public var engineName: String { Self.engineName }
    public let metrics = StoreMetrics()

    let settings: LSMSettings
    let durability: Durability
    let lockedDirectory: LockedDirectory
    var storage: StorageDirectory { lockedDirectory.directory }
    let lock = Lock()
    let maintenanceLock = Lock()
    let cache: BlockCache

    var memtable = Memtable()
    var immutable: Memtable?
    /// The WAL started when `immutable` was frozen: once it is flushed, older WALs are obsolete.
    var immutableLogNumber: UInt64 = 0
    var wal: LogWriter!
    var walNumber: UInt64 = 0
    var version = Version()
    var readers: [UInt64: SSTReader] = [:]
    /// Highest sequence handed out.
    var lastSequence: UInt64 = 0
    /// Highest sequence the SSTs hold completely.
    var persistedSequence: UInt64 = 0
    var nextFileNumber: UInt64 = 1
    var logNumber: UInt64 = 0
    var manifest: LogWriter!
    var manifestNumber: UInt64 = 0
    /// What to compact next (with each level's compact pointer).
    var compactionPolicy: CompactionPolicy
    var failure: StoreError?
    /// Set once `init` has recovered the store (a failed open never counts as open).
    var isOpen = false
    var unsynced = false
    var background: MaintenanceThread?
    private var syncThread: MaintenanceThread?
    private var writeBuffer: [UInt8] = []
    /// Scratch key of SST block searches in `get`.
    private var lookupKey: [UInt8] = []

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

    public init(directory: String, options: StoreOptions) throws {
        settings = try LSMSettings(options)
        compactionPolicy = CompactionPolicy(settings: settings)
        durability = options.durability
        cache = BlockCache(capacity: settings.blockCacheBytes)
        lockedDirectory = try LockedDirectory.open(
            path: directory, engine: Self.engineName, formatVersion: Self.formatVersion,
            options: options, metrics: metrics)
        writeBuffer.reserveCapacity(1 << 16)
        try recover()
        isOpen = true
        background = MaintenanceThread { [weak self] in self?.runMaintenance() }
        background?.wake()
        if durability == .interval {
            syncThread = MaintenanceThread(period: max(1, options.syncIntervalMilliseconds)) { [weak self] in self?.syncIfDirty() }
        }
    }

    deinit {
        if isOpen { try? close() }
    }

    @inline(__always)
    func checkUsable() throws {
        guard isOpen else { throw StoreError.closed }
        if let failure {
            throw StoreError.io(call: "earlier write", errno: EIO, path: "\(storage.path) (store stopped after: \(failure); reopen it)")
        }
    }

    // MARK: Writes

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        try StoreLimits.check(valueSize: value.count)
        try commit(count: 1, userBytes: key.count + value.count) { buffer in
            key.withUnsafeBytes { key in value.withUnsafeBytes { CommitRecord.appendPut(key, $0, to: &buffer) } }
        } apply: { memtable in
            key.withUnsafeBytes { key in value.withUnsafeBytes { memtable.put(key, $0) } }
        }
    }

    public func delete(_ key: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        try commit(count: 1, userBytes: key.count) { buffer in
            key.withUnsafeBytes { CommitRecord.appendDelete($0, to: &buffer) }
        } apply: { memtable in
            key.withUnsafeBytes { memtable.delete($0) }
        }
    }

    public func apply(_ batch: WriteBatch) throws {
        try batch.validate()
        guard !batch.isEmpty else {
            try lock.withLock { try checkUsable() }
            return
        }
        try commit(count: batch.count, userBytes: batch.userBytes) { buffer in
            for operation in batch.operations {
                switch operation {
                case let .put(key, value):
                    key.withUnsafeBytes { key in value.withUnsafeBytes { CommitRecord.appendPut(key, $0, to: &buffer) } }
                case let .delete(key):
                    key.withUnsafeBytes { CommitRecord.appendDelete($0, to: &buffer) }
                }
            }
        } apply: { memtable in
            for operation in batch.operations {
                switch operation {
                case let .put(key, value): key.withUnsafeBytes { key in value.withUnsafeBytes { memtable.put(key, $0) } }
                case let .delete(key): key.withUnsafeBytes { memtable.delete($0) }
                }
            }
        }
    }

    /// One commit: a sequence number, one WAL record (synced for durability `always`), then the
    /// memtable — all of it, under the lock, so readers see the commit whole or not at all.
    private func commit(
        count: Int, userBytes: Int, encode: (inout [UInt8]) -> Void, apply: (Memtable) -> Void
    ) throws {
        lock.lock()
        defer { lock.unlock() }
        try checkUsable()
        try makeRoomForWrite()
        let sequence = lastSequence + 1
        CommitRecord.encodeHeader(sequence: sequence, count: count, into: &writeBuffer)
        encode(&writeBuffer)
        do {
            try wal.append(writeBuffer)
            if durability == .always { try wal.sync() }
        } catch {
            // The WAL's state is unknown after a failed write or sync: stop until reopened.
            failure = error as? StoreError ?? .io(call: "write", errno: EIO, path: storage.path)
            throw error
        }
        apply(memtable)
        memtable.noteCommit(sequence)
        lastSequence = sequence
        metrics.addUserBytes(userBytes)
        unsynced = durability != .always
    }

    /// Makes room in the memtable, holding `lock` (released while waiting). Writers slow down by
    /// 1 ms once L0 reaches the slowdown trigger, and stop while L0 is at the stop trigger or a full
    /// memtable waits for the previous one's flush. Each delay is a maintenance event with
    /// `blockedWriters`, so reports show the pauses users feel.
    private func makeRoomForWrite() throws {
        var slowed = false
        while true {
            try checkUsable()
            let level0 = version.levels[0].count
            if !slowed && level0 >= settings.l0SlowdownTrigger && level0 < settings.l0StopTrigger {
                let start = MonotonicClock.now()
                lock.unlock()
                usleep(1000)
                lock.lock()
                slowed = true
                metrics.record(MaintenanceEvent(kind: "slowdown", startNanos: start, durationNanos: MonotonicClock.now() &- start,
                                                bytesRead: 0, bytesWritten: 0, blockedWriters: true, detail: "\(level0) L0 files"))
                continue
            }
            let full = memtable.approximateBytes >= settings.writeBufferSize
            if level0 >= settings.l0StopTrigger || (full && immutable != nil) {
                let start = MonotonicClock.now()
                let reason = level0 >= settings.l0StopTrigger ? "\(level0) L0 files" : "memtable full, previous one not flushed"
                background?.wake()
                while failure == nil && isOpen
                    && (version.levels[0].count >= settings.l0StopTrigger
                        || (memtable.approximateBytes >= settings.writeBufferSize && immutable != nil)) {
                    lock.wait(milliseconds: 100)
                }
                metrics.record(MaintenanceEvent(kind: "stall", startNanos: start, durationNanos: MonotonicClock.now() &- start,
                                                bytesRead: 0, bytesWritten: 0, blockedWriters: true, detail: reason))
                continue
            }
            guard full else { return }
            try freezeMemtable()
            background?.wake()
        }
    }

    /// Turns the memtable immutable and starts a new one with a new WAL. Call holding `lock`,
    /// with no immutable memtable.
    func freezeMemtable() throws {
        let number = nextFileNumber
        nextFileNumber += 1
        let file: DurableFile
        do {
            file = try storage.create(FileNames.wal(number))
            if durability != .always { try wal.sync() }  // the frozen memtable's WAL is complete on disk
        } catch {
            failure = error as? StoreError ?? .io(call: "write", errno: EIO, path: storage.path)
            throw error
        }
        wal.file.close()
        wal = LogWriter(file: file, offset: 0)
        walNumber = number
        immutable = memtable
        immutableLogNumber = number
        memtable = Memtable()
    }

    // MARK: Reads

    public func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        try checkUsable()
        return try key.withUnsafeBytes { key in try lookup(key, into: &value) }
    }

    /// Memtable → immutable memtable → L0 newest first → L1 … (each file's Bloom filter first).
    private func lookup(_ key: UnsafeRawBufferPointer, into value: inout [UInt8]) throws -> Bool {
        if let answer = Self.lookup(key, in: memtable, into: &value) { return answer }
        if let immutable, let answer = Self.lookup(key, in: immutable, into: &value) { return answer }
        let hash = BloomFilter.hash(key)
        for file in version.levels[0].reversed()
        where KeyOrder.compare(file.smallest, key) <= 0 && KeyOrder.compare(file.largest, key) >= 0 {
            if let answer = try lookup(key, hash: hash, in: file.number, into: &value) { return answer }
        }
        for level in 1..<Self.levels {
            let files = version.levels[level]
            guard !files.isEmpty else { continue }
            var low = 0
            var high = files.count
            while low < high {
                let middle = (low + high) / 2
                if KeyOrder.compare(files[middle].largest, key) < 0 { low = middle + 1 } else { high = middle }
            }
            guard low < files.count, KeyOrder.compare(files[low].smallest, key) <= 0 else { continue }
            if let answer = try lookup(key, hash: hash, in: files[low].number, into: &value) { return answer }
        }
        return false
    }

    @inline(__always)
    private static func lookup(_ key: UnsafeRawBufferPointer, in table: Memtable, into value: inout [UInt8]) -> Bool? {
        var answer: Bool?
        table.lookup(key) { found in
            switch found {
            case .absent: break
            case .deleted: answer = false
            case let .value(bytes):
                value.removeAll(keepingCapacity: true)
                value.append(contentsOf: bytes)
                answer = true
            }
        }
        return answer
    }

    private func lookup(_ key: UnsafeRawBufferPointer, hash: UInt64, in number: UInt64, into value: inout [UInt8]) throws -> Bool? {
        guard let reader = readers[number] else {
            throw StoreError.corrupted(file: storage.path(of: FileNames.table(number)), offset: 0, reason: "SST named by the MANIFEST is not open")
        }
        switch try reader.get(key, hash: hash, cache: cache, keyBuffer: &lookupKey) {
        case .absent: return nil
        case .deleted: return false
        case let .value(block, range):
            value.removeAll(keepingCapacity: true)
            value.append(contentsOf: block.bytes[range])
            return true
        }
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
        var merged = MergingIterator(currentSources(cache: cache))
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

    /// Every source of the current state, newest first. Call holding `lock`.
    func currentSources(cache: BlockCache?) -> [EntrySource] {
        var sources: [EntrySource] = [.memory(MemtableCursor(memtable))]
        if let immutable { sources.append(.memory(MemtableCursor(immutable))) }
        for file in version.levels[0].reversed() {
            if let reader = readers[file.number] { sources.append(.table(SSTIterator(reader: reader, cache: cache))) }
        }
        for level in 1..<Self.levels where !version.levels[level].isEmpty {
            sources.append(.level(LevelIterator(files: version.levels[level].compactMap { readers[$0.number] }, cache: cache)))
        }
        return sources
    }

    // MARK: Sync, close, statistics

    public func sync() throws {
        try lock.withLock { () throws in
            try checkUsable()
            try wal.sync()
            unsynced = false
        }
    }

    private func syncIfDirty() {
        lock.withLock {
            guard isOpen, unsynced, failure == nil else { return }
            do {
                try wal.sync()
                unsynced = false
            } catch {
                failure = error as? StoreError
            }
        }
    }

    /// A clean close flushes the memtable to an SST, so the next open replays no WAL.
    public func close() throws {
        try lock.withLock { guard isOpen else { throw StoreError.closed } }
        background?.stop()
        background = nil
        syncThread?.stop()
        syncThread = nil
        var closeError: Error?
        do {
            try maintenanceLock.withLock {
                let frozen = try lock.withLock { () throws -> Bool in
                    guard failure == nil else { return false }
                    if immutable == nil && !memtable.isEmpty { try freezeMemtable() }
                    return immutable != nil
                }
                if frozen { try flushImmutable() }
            }
        } catch {
            closeError = error
        }
        // A failure background work met and no write has reported yet is reported here.
        let failed = lock.withLock { () -> StoreError? in
            if failure == nil { try? wal?.sync() }
            releaseFiles()
            return failure
        }
        if let closeError { throw closeError }
        if let failed { throw failed }
    }

    /// Marks the store closed and lets go of its files and its lock. Call holding `lock`.
    private func releaseFiles() {
        isOpen = false
        wal?.file.close()
        manifest?.file.close()
        for reader in readers.values { reader.file.close() }
        readers.removeAll()
        lockedDirectory.release()
        lock.broadcast()
    }

    public func statistics() throws -> StoreStatistics {
        try lock.withLock {
            try checkUsable()
            return try storage.usage()
        }
    }

    /// Files per level, for tests and reports.
    public func levelSummary() -> [(files: Int, bytes: Int)] {
        lock.withLock { version.levels.map { ($0.count, $0.reduce(0) { $0 + $1.size }) } }
    }
}

extension LSMStore: CrashSimulating {
    /// Stops the background threads and releases files and the lock without flushing the
    /// memtable or syncing: the next open must recover from the WAL.
    public func simulateCrash() {
        background?.stop()
        background = nil
        lock.withLock {
            if isOpen { releaseFiles() }
        }
    }
}
