import StoreCore

/// The `cow` engine: a B+tree over a copy-on-write chunk file. Every write (a put, a delete, a
/// batch) is one chunk-file transaction: changed nodes go to free chunks, then the translation
/// table, then a meta chunk. Opening reads two metas and the table — there is no log to replay.
public final class ChunkStore: Store, @unchecked Sendable {
    public static let engineName = "cow"
    public static let formatVersion = 1

    public static let descriptor = EngineDescriptor(
        name: engineName,
        strategy: "copy-on-write B+tree in chunks",
        summary: "4 KiB chunks, virtual→physical translation table, two metas, CRC'd chunks, freelist reuse",
        isPersistent: true,
        maxKeySize: NodeLayout.keyLimit(ChunkGeometry.defaultChunkSize),
        stressSettings: ["chunk_size": "512"]
    ) { directory, options in
        try ChunkStore(directory: directory, options: options)
    }

    public var engineName: String { Self.engineName }
    public let metrics = StoreMetrics()

    let lockedDirectory: LockedDirectory
    let chunks: ChunkFile
    let tree: ChunkTree
    let durability: Durability
    /// Guards everything below; the interval-sync thread takes it too.
    let lock = Lock()
    private var isOpen = true
    private var unsynced = false
    private var syncThread: MaintenanceThread?
    /// Time the last open spent, in nanoseconds (reading metas and the table).
    public private(set) var openNanoseconds: UInt64 = 0

    public init(directory: String, options: StoreOptions) throws {
        let started = MonotonicClock.now()
        let settings = try ChunkStoreSettings(options)
        durability = options.durability
        lockedDirectory = try LockedDirectory.open(
            path: directory, engine: Self.engineName, formatVersion: Self.formatVersion,
            options: options, metrics: metrics)
        try lockedDirectory.directory.removeTemporaryFiles()
        chunks = try ChunkFile(
            directory: lockedDirectory.directory, requestedChunkSize: settings.chunkSize,
            cacheBytes: settings.cacheBytes, syncOnCommit: options.durability == .always,
            reuseWithoutSync: options.durability == .none)
        tree = ChunkTree(chunks: chunks)
        openNanoseconds = MonotonicClock.now() &- started
        if durability == .interval {
            syncThread = MaintenanceThread(period: max(1, options.syncIntervalMilliseconds)) { [weak self] in
                self?.syncIfDirty()
            }
        }
    }

    deinit {
        if isOpen { try? close() }
    }

    @inline(__always)
    private func checkOpen() throws(StoreError) {
        guard isOpen else { throw .closed }
    }

    /// Runs `body` as one transaction: committed when it returns, rolled back when it throws.
    private func transaction(userBytes: Int, _ body: () throws -> Void) throws {
        lock.lock()
        defer { lock.unlock() }
        try checkOpen()
        try chunks.begin()
        do {
            try body()
        } catch {
            chunks.rollback()
            throw error
        }
        try chunks.commit()
        metrics.addUserBytes(userBytes)
        unsynced = durability != .always
    }

    // MARK: Store

    public func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        try checkOpen()
        if let failure = chunks.failure { throw failure }
        return try key.withUnsafeBytes { key throws(StoreError) in try tree.get(key, into: &value) }
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try tree.checkKey(key.count)
        try StoreLimits.check(valueSize: value.count)
        try transaction(userBytes: key.count + value.count) {
            try key.withUnsafeBytes { key in
                try value.withUnsafeBytes { value in try tree.put(key, value) }
            }
        }
    }

    public func delete(_ key: [UInt8]) throws {
        try tree.checkKey(key.count)
        try transaction(userBytes: key.count) {
            try key.withUnsafeBytes { key in _ = try tree.delete(key) }
        }
    }

    public func apply(_ batch: WriteBatch) throws {
        try batch.validate()
        for operation in batch.operations { try tree.checkKey(operation.key.count) }
        try transaction(userBytes: batch.userBytes) {
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
        }
    }

    @discardableResult
    public func scan(
        from start: [UInt8], limit: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        try checkOpen()
        if let failure = chunks.failure { throw failure }
        return try start.withUnsafeBytes { start in try tree.scan(from: start, limit: limit, body) }
    }

    public func sync() throws {
        try lock.withLock {
            try checkOpen()
            try chunks.sync()
            unsynced = false
        }
    }

    private func syncIfDirty() {
        lock.withLock {
            guard isOpen, unsynced, chunks.failure == nil else { return }
            try? chunks.sync()
            unsynced = false
        }
    }

    /// Moves live chunks toward the front of the file and truncates the tail; recorded as a
    /// `compaction` maintenance event (writers wait: it holds the store's lock).
    public func compact() throws {
        try lock.withLock {
            try checkOpen()
            let before = metrics.snapshot()
            try metrics.measure("compaction", blockingWriters: true) {
                let report = try chunks.relocate()
                let after = metrics.snapshot()
                return ((), after.fileBytesRead - before.fileBytesRead, after.fileBytesWritten - before.fileBytesWritten,
                        "moved \(report.movedChunks) chunks; \(report.chunksBefore) → \(report.chunksAfter) chunks")
            }
        }
    }

    public func close() throws {
        try lock.withLock { try checkOpen() }
        syncThread?.stop()
        syncThread = nil
        try lock.withLock {
            defer {
                isOpen = false
                chunks.close()
                lockedDirectory.release()
            }
            // A clean close leaves every commit on stable storage, whatever the durability.
            if chunks.failure == nil { try chunks.sync() }
            if let failure = chunks.failure { throw failure }
        }
    }

    public func statistics() throws -> StoreStatistics {
        try lock.withLock {
            try checkOpen()
            var statistics = try lockedDirectory.directory.usage()
            statistics.keyCount = tree.keyCount
            statistics.liveBytes = tree.liveBytes
            statistics.deadBytes = chunks.freeChunkCount * chunks.chunkSize
            return statistics
        }
    }

    /// Chunk-layer figures, for tests and `verify`.
    public var chunkFile: ChunkFile { chunks }
}

extension ChunkStore: StructureVerifying {
    /// Re-reads every table chunk and every tree chunk from disk (the cache is emptied first),
    /// checking each checksum, then the tree's invariants.
    public func verifyStructure() throws -> [String] {
        try lock.withLock {
            try checkOpen()
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
