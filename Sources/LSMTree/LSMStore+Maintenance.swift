import StoreCore

/// Flushes and leveled compaction, on the background thread (and in `compact()`).
extension LSMStore {
    /// Background thread body: flush, then compact, until nothing is due.
    func runMaintenance() {
        while true {
            let worked: Bool
            do {
                worked = try maintenanceLock.withLock { () throws -> Bool in
                    guard lock.withLock({ isOpen && failure == nil }) else { return false }
                    if lock.withLock({ immutable != nil }) {
                        try flushImmutable()
                        return true
                    }
                    return try compactOnce()
                }
            } catch {
                lock.withLock {
                    failure = failure ?? (error as? StoreError) ?? .io(call: "maintenance", errno: 5, path: storage.path)
                    lock.broadcast()
                }
                return
            }
            if !worked { return }
        }
    }

    /// Writes the immutable memtable to a new L0 SST and records it, with the sequence it holds
    /// completely and the WAL from which recovery must now start. Call holding `maintenanceLock`.
    func flushImmutable() throws {
        let (table, logAfter) = lock.withLock { (immutable, immutableLogNumber) }
        guard let table else { return }
        let number = allocateFileNumber()
        try metrics.measure("flush", blockingWriters: false) {
            var builder = SSTBuilder(blockSize: settings.blockSize, bitsPerKey: settings.bloomBitsPerKey)
            table.forEach(from: []) { key, value in
                builder.add(key, value)
                return true
            }
            var added: [(Int, FileMetadata)] = []
            var written = 0
            if !builder.isEmpty {
                let (file, bytes) = try writeTable(&builder, number: number, maxSequence: table.maxSequence)
                added.append((0, file))
                written = bytes
            }
            try lock.withLock { () throws in
                var edit = VersionEdit(lastSequence: max(persistedSequence, table.maxSequence), nextFileNumber: nextFileNumber, logNumber: logAfter)
                edit.added = added
                try install(edit)
                immutable = nil
                lock.broadcast()
            }
            try removeObsoleteLogs()
            return ((), 0, written, "\(table.count) entries, \(table.commits) commits → \(SSTFormat.fileName(number))")
        }
    }

    /// Finishes `builder` as SST `number`: temp file, fsync, rename, directory fsync; opens it.
    func writeTable(_ builder: inout SSTBuilder, number: UInt64, maxSequence: UInt64) throws -> (FileMetadata, Int) {
        let contents = builder.finish(maxSequence: maxSequence)
        let name = SSTFormat.fileName(number)
        try storage.writeAtomically(name, contents: contents)
        let reader = try SSTReader(number: number, file: try storage.open(name))
        lock.withLock { readers[number] = reader }
        let properties = builder.properties
        return (FileMetadata(number: number, size: contents.count, smallest: properties.smallest, largest: properties.largest,
                             maxSequence: maxSequence, entries: properties.entries), contents.count)
    }

    /// Appends `edit` to the MANIFEST (synced), then applies it; SSTs it removes (and does not
    /// add back elsewhere, as a move down a level does) are deleted only after that. Call holding
    /// `lock`.
    func install(_ edit: VersionEdit) throws {
        do {
            try manifest.append(edit.encoded())
            try manifest.sync()
        } catch {
            failure = error as? StoreError
            throw error
        }
        version.apply(edit)
        if let value = edit.lastSequence { persistedSequence = max(persistedSequence, value) }
        if let value = edit.logNumber { logNumber = max(logNumber, value) }
        let kept = Set(edit.added.map(\.file.number))
        var retired: [String] = []
        for (_, number) in edit.deleted where !kept.contains(number) {
            readers.removeValue(forKey: number)?.file.close()
            cache.evict(file: number)
            retired.append(SSTFormat.fileName(number))
        }
        try storage.remove(retired)
        lock.broadcast()
    }

    /// The next file number. Call without `lock`.
    func allocateFileNumber() -> UInt64 {
        lock.withLock {
            nextFileNumber += 1
            return nextFileNumber - 1
        }
    }

    /// Removes WALs below the log number (their commits are all in SSTs now).
    func removeObsoleteLogs() throws {
        let limit = lock.withLock { logNumber }
        let obsolete = try storage.list().filter { name in
            guard let number = Self.number(of: name, suffix: ".log") else { return false }
            return number < limit
        }
        try storage.remove(obsolete)
    }

    struct Compaction {
        /// Input files with their levels, newest first for any key: L0 by descending number,
        /// then each level above the output level in key order.
        var inputs: [(level: Int, file: FileMetadata)]
        /// The files of the output level the inputs overlap (read as one sorted sequence).
        var next: [FileMetadata]
        var outputLevel: Int
        /// No deeper level holds these keys: tombstones can go.
        var dropTombstones: Bool
        var kind: String
    }

    /// The most urgent compaction: L0 by file count, other levels by bytes over their target.
    /// Call holding `lock`.
    func pickCompaction() -> Compaction? {
        var bestLevel = -1
        var bestScore = 1.0
        let l0Score = Double(version.levels[0].count) / Double(settings.l0CompactionTrigger)
        if l0Score >= bestScore {
            bestLevel = 0
            bestScore = l0Score
        }
        for level in 1..<(Self.levels - 1) {
            let score = Double(version.bytes(level: level)) / Double(settings.targetBytes(level: level))
            if score > bestScore {
                bestLevel = level
                bestScore = score
            }
        }
        guard bestLevel >= 0 else { return nil }
        var inputs: [FileMetadata]
        if bestLevel == 0 {
            inputs = version.levels[0].sorted { $0.number > $1.number }
        } else {
            let files = version.levels[bestLevel]
            let pointer = compactPointers[bestLevel]
            let chosen = files.first { pointer.isEmpty || KeyOrder.compare($0.smallest, pointer) > 0 } ?? files[0]
            inputs = [chosen]
        }
        let smallest = inputs.map(\.smallest).min(by: KeyOrder.less)!
        let largest = inputs.map(\.largest).max(by: KeyOrder.less)!
        let next = version.overlapping(level: bestLevel + 1, smallest: smallest, largest: largest)
        let all = inputs + next
        let low = all.map(\.smallest).min(by: KeyOrder.less)!
        let high = all.map(\.largest).max(by: KeyOrder.less)!
        let deeper = ((bestLevel + 2)..<Self.levels).contains { !version.overlapping(level: $0, smallest: low, largest: high).isEmpty }
        return Compaction(inputs: inputs.map { (bestLevel, $0) }, next: next, outputLevel: bestLevel + 1,
                          dropTombstones: !deeper, kind: "L\(bestLevel)+L\(bestLevel + 1)")
    }

    /// Runs one compaction if one is due. Call holding `maintenanceLock`.
    func compactOnce() throws -> Bool {
        guard let compaction = lock.withLock({ pickCompaction() }) else { return false }
        if let (level, file) = compaction.inputs.first, level > 0, compaction.inputs.count == 1, compaction.next.isEmpty {
            // Nothing to merge with below: move the file down without rewriting it.
            try metrics.measure("compaction", blockingWriters: false) {
                try lock.withLock { () throws in
                    var edit = VersionEdit()
                    edit.deleted = [(level, file.number)]
                    edit.added = [(compaction.outputLevel, file)]
                    try install(edit)
                    compactPointers[level] = file.largest
                }
                return ((), 0, 0, "moved \(SSTFormat.fileName(file.number)) L\(level) → L\(compaction.outputLevel)")
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
                        throw StoreError.corrupted(file: storage.path(of: SSTFormat.fileName(file.number)), offset: 0, reason: "input SST not open")
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
                if let (level, last) = compaction.inputs.last, level > 0, compaction.inputs.count == 1 {
                    compactPointers[level] = last.largest
                }
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
            let compaction = lock.withLock { () -> Compaction? in
                guard version.fileCount > 0 else { return nil }
                let deepest = (1..<Self.levels).last { !version.levels[$0].isEmpty } ?? 1
                // Every level above the deepest, newest first: L0 by descending number, then
                // each level's disjoint files in key order.
                var inputs = version.levels[0].sorted { $0.number > $1.number }.map { (0, $0) }
                for level in 1..<deepest { inputs += version.levels[level].map { (level, $0) } }
                return Compaction(inputs: inputs, next: version.levels[deepest], outputLevel: deepest,
                                  dropTombstones: true, kind: "full")
            }
            if let compaction { try merge(compaction) }
        }
    }

    public func waitForMaintenance() throws {
        while true {
            let due = try lock.withLock { () throws -> Bool in
                try checkUsable()
                return immutable != nil || pickCompaction() != nil
            }
            if !due {
                // Let a job that is running finish.
                maintenanceLock.withLock {}
                if !(try lock.withLock { () throws -> Bool in try checkUsable(); return immutable != nil || pickCompaction() != nil }) { return }
            }
            background?.wake()
            lock.withLock { lock.wait(milliseconds: 5) }
        }
    }
}
