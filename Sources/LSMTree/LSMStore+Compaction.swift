import StoreCore

/// Running compactions: moving a file down a level, merging files into the next level, and the
/// full compaction of `compact()`. What to compact is `CompactionPolicy`'s decision.
extension LSMStore {
    /// Runs one compaction if one is due. Call holding `maintenanceLock`.
    func compactOnce() throws -> Bool {
        guard let compaction = lock.withLock({ compactionPolicy.pick(version) }) else { return false }
        if compaction.isMove, let (level, file) = compaction.inputs.first {
            // Nothing to merge with below: move the file down without rewriting it.
            try metrics.measure("compaction", blockingWriters: false) {
                try lock.withLock { () throws in
                    var edit = VersionEdit()
                    edit.deleted = [(level, file.number)]
                    edit.added = [(compaction.outputLevel, file)]
                    try install(edit)
                    compactionPolicy.compacted(compaction)
                }
                return ((), 0, 0, "moved \(FileNames.table(file.number)) L\(level) → L\(compaction.outputLevel)")
            }
            return true
        }
        try merge(compaction)
        return true
    }

    /// Merges the compaction's files into new SSTs of the output level, keeping only the newest
    /// version of each key (and no tombstones where nothing deeper can hold the key). Call
    /// holding `maintenanceLock`; merging and writing run without `lock`.
    func merge(_ compaction: Compaction) throws {
        try metrics.measure("compaction", blockingWriters: false) {
            let sources = try lock.withLock { () throws -> [EntrySource] in
                var sources: [EntrySource] = []
                for (_, file) in compaction.inputs {
                    guard let reader = readers[file.number] else {
                        throw StoreError.corrupted(file: storage.path(of: FileNames.table(file.number)), offset: 0, reason: "input SST not open")
                    }
                    sources.append(.table(SSTIterator(reader: reader, cache: nil)))
                }
                if !compaction.next.isEmpty {
                    sources.append(.level(LevelIterator(files: compaction.next.compactMap { readers[$0.number] }, cache: nil)))
                }
                return sources
            }
            let all = compaction.inputs.map(\.file) + compaction.next
            let maxSequence = all.map(\.maxSequence).max() ?? 0
            var merged = MergingIterator(sources)
            try merged.seekToFirst()
            var outputs: [FileMetadata] = []
            var written = 0
            var dropped = 0
            var builder = SSTBuilder(blockSize: settings.blockSize, bitsPerKey: settings.bloomBitsPerKey)
            while merged.isValid {
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
            try lock.withLock { () throws in
                var edit = VersionEdit(nextFileNumber: nextFileNumber)
                edit.deleted = compaction.inputs.map { ($0.level, $0.file.number) } + compaction.next.map { (compaction.outputLevel, $0.number) }
                edit.added = outputs.map { (compaction.outputLevel, $0) }
                try install(edit)
                compactionPolicy.compacted(compaction)
            }
            let detail = "\(compaction.kind): \(compaction.inputs.count)+\(compaction.next.count) files → \(outputs.count) in L\(compaction.outputLevel)"
                + (dropped > 0 ? ", \(dropped) tombstones dropped" : "")
            return ((), all.reduce(0) { $0 + $1.size }, written, detail)
        }
    }

    /// Full compaction: flush the memtable, then merge every SST into the deepest level in use,
    /// dropping every shadowed version and every tombstone.
    public func compact() throws {
        try lock.withLock { try checkUsable() }
        try maintenanceLock.withLock {
            let frozen = try lock.withLock { () throws -> Bool in
                if immutable == nil && !memtable.isEmpty { try freezeMemtable() }
                return immutable != nil
            }
            if frozen { try flushImmutable() }
            let compaction = lock.withLock { compactionPolicy.full(version) }
            if let compaction { try merge(compaction) }
        }
    }
}
