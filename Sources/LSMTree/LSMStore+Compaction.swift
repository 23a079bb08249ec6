import StoreCore

/// Running compactions: moving a file down a level, merging files into the next level, and the
/// full compaction of `compact()`. What to compact is `CompactionPolicy`'s decision.
extension LSMStore {
    /// Runs one compaction if one is due. Call holding `maintenanceLock`.
    func compactOnce() throws -> Bool {
        let (picked, version) = lock.withLock { () -> (Compaction?, Version) in (compactionPolicy.pick(self.version.layout), self.version) }
        guard let compaction = picked else { return false }
        if compaction.isMove, let (level, file) = compaction.inputs.first {
            // Nothing to merge with below: move the file down without rewriting it.
            try metrics.measure("compaction", blockingWriters: false) { () throws -> ((), Int, Int, String) in
                var edit = VersionEdit()
                edit.deleted = [(level, file.number)]
                edit.added = [(compaction.outputLevel, file)]
                try logAndApply(edit, opened: [:]) { compactionPolicy.compacted(compaction) }
                return ((), 0, 0, "moved \(FileNames.table(file.number)) L\(level) → L\(compaction.outputLevel)")
            }
            return true
        }
        try merge(compaction, from: version)
        return true
    }

    /// Merges the compaction's files into new SSTs of the output level, keeping only the newest
    /// version of each key (and no tombstones where nothing deeper can hold the key). Call
    /// holding `maintenanceLock`; merging and writing run without `lock`, on `version` (the one
    /// the compaction was picked from, which keeps its input files open).
    ///
    /// A memtable frozen meanwhile is flushed between two of the merge's steps, as LevelDB's
    /// compaction loop does: writers that filled the next memtable wait only for that flush,
    /// not for the rest of a compaction that may take a hundred times longer. The flush adds an
    /// L0 file newer than every input, so the compaction's own edit still applies on top of it.
    /// Its time is left out of the compaction's event (it is an event of its own).
    func merge(_ compaction: Compaction, from version: Version) throws {
        var flushNanos: UInt64 = 0
        var flushes = 0
        try metrics.measure("compaction", blockingWriters: false, excludingNanos: { flushNanos }) {
            func reader(_ file: FileMetadata) throws -> SSTReader {
                guard let table = version.table(file.number) else {
                    throw StoreError.corrupted(file: storage.path(of: FileNames.table(file.number)), offset: 0, reason: "input SST not open")
                }
                return table.reader
            }
            var sources: [EntrySource] = []
            for (_, file) in compaction.inputs { sources.append(.table(SSTIterator(reader: try reader(file), cache: nil))) }
            if !compaction.next.isEmpty {
                sources.append(.level(LevelIterator(files: try compaction.next.map(reader), cache: nil)))
            }
            let all = compaction.inputs.map(\.file) + compaction.next
            let maxSequence = all.map(\.maxSequence).max() ?? 0
            var merged = MergingIterator(sources)
            try merged.seekToFirst()
            var outputs: [TableFile] = []
            var written = 0
            var dropped = 0
            var builder = SSTBuilder(blockSize: settings.blockSize, bitsPerKey: settings.bloomBitsPerKey)
            var steps = 0
            while merged.isValid {
                steps += 1
                if steps & (Self.flushCheckInterval - 1) == 0, lock.withLock({ immutable != nil }) {
                    let start = MonotonicClock.now()
                    try flushImmutable()
                    flushNanos &+= MonotonicClock.now() &- start
                    flushes += 1
                }
                let keep = merged.withValue { value -> Bool in
                    if value == nil && compaction.dropTombstones { return false }
                    merged.key.withUnsafeBytes { builder.add($0, value) }
                    return true
                }
                if !keep { dropped += 1 }
                try merged.next()
                if !builder.isEmpty && (builder.estimatedSize >= settings.targetFileSize || !merged.isValid) {
                    let (file, bytes) = try writeTable(&builder, number: allocateFileNumber(), maxSequence: maxSequence)
                    outputs.append(file)
                    written += bytes
                    builder = SSTBuilder(blockSize: settings.blockSize, bitsPerKey: settings.bloomBitsPerKey)
                }
            }
            var edit = VersionEdit(nextFileNumber: lock.withLock { nextFileNumber })
            edit.deleted = compaction.inputs.map { ($0.level, $0.file.number) } + compaction.next.map { (compaction.outputLevel, $0.number) }
            edit.added = outputs.map { (compaction.outputLevel, $0.metadata) }
            let opened = Dictionary(uniqueKeysWithValues: outputs.map { ($0.metadata.number, $0) })
            try logAndApply(edit, opened: opened) { compactionPolicy.compacted(compaction) }
            let detail = "\(compaction.kind): \(compaction.inputs.count)+\(compaction.next.count) files → \(outputs.count) in L\(compaction.outputLevel)"
                + (dropped > 0 ? ", \(dropped) tombstones dropped" : "")
                + (flushes > 0 ? ", paused for \(flushes) memtable flush\(flushes == 1 ? "" : "es")" : "")
            return ((), all.reduce(0) { $0 + $1.size }, written, detail)
        }
    }

    /// Merge steps (entries) between two looks for a frozen memtable to flush (a power of two):
    /// one lock per 1,024 entries, some 100 KiB of output at the default sizes.
    static var flushCheckInterval: Int { 1024 }

    /// Full compaction: flush the memtable, then merge every SST into the deepest level in use,
    /// dropping every shadowed version and every tombstone. Writers go on meanwhile; commits
    /// acknowledged before the call are all in the result.
    public func compact() throws {
        try lock.withLock { try checkUsable() }
        // Switch memtables as the write leader, so the frozen one holds every commit so far.
        try writers.commit(.exclusive, weight: 1, alone: true) { _ in
            try lock.withLock { try checkUsable() }
            guard !memtable.isEmpty else { return }
            if lock.withLock({ immutable != nil }) {
                try maintenanceLock.withLock {
                    try lock.withLock { try checkUsable() }
                    try flushImmutable()
                }
            }
            try freezeMemtable()
        }
        try maintenanceLock.withLock {
            try lock.withLock { try checkUsable() }
            try flushImmutable()
            let (compaction, version) = lock.withLock { () -> (Compaction?, Version) in (compactionPolicy.full(self.version.layout), self.version) }
            if let compaction { try merge(compaction, from: version) }
        }
        background?.wake()
    }
}
