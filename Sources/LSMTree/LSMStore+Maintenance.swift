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
        let (table, logAfter, number) = lock.withLock { () -> (Memtable?, UInt64, UInt64) in
            let number = nextFileNumber
            nextFileNumber += 1
            return (immutable, immutableLogNumber, number)
        }
        guard let table else { return }
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

    /// Appends `edit` to the MANIFEST (synced), then applies it; SSTs it removes are deleted only
    /// after that. Call holding `lock`.
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
        var retired: [String] = []
        for (_, number) in edit.deleted {
            readers.removeValue(forKey: number)?.file.close()
            cache.evict(file: number)
            retired.append(SSTFormat.fileName(number))
        }
        try storage.remove(retired)
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
        var level: Int
        var inputs: [FileMetadata]
        var next: [FileMetadata]
        var outputLevel: Int
        /// No deeper level holds these keys: tombstones can go.
        var dropTombstones: Bool
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
            inputs = version.levels[0]
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
        return Compaction(level: bestLevel, inputs: inputs, next: next, outputLevel: bestLevel + 1, dropTombstones: !deeper)
    }

    /// Runs one compaction if one is due. Call holding `maintenanceLock`.
    func compactOnce() throws -> Bool {
        guard let compaction = lock.withLock({ pickCompaction() }) else { return false }
        if compaction.level > 0 && compaction.next.isEmpty && compaction.inputs.count == 1 {
            // Nothing to merge with below: move the file down without rewriting it.
            let file = compaction.inputs[0]
            try metrics.measure("compaction", blockingWriters: false) {
                try lock.withLock { () throws in
                    var edit = VersionEdit()
                    edit.deleted = [(compaction.level, file.number)]
                    edit.added = [(compaction.outputLevel, file)]
                    try manifest.append(edit.encoded())
                    try manifest.sync()
                    version.apply(edit)
                    compactPointers[compaction.level] = file.largest
                    lock.broadcast()
                }
                return ((), 0, 0, "moved \(SSTFormat.fileName(file.number)) L\(compaction.level) → L\(compaction.outputLevel)")
            }
            return true
        }
        try merge(compaction)
        return true
    }

    /// Merges the compaction's files into new SSTs of the output level, keeping only the newest
    /// version of each key (and no tombstones where nothing deeper can hold the key).
    func merge(_ compaction: Compaction) throws {
        try metrics.measure("compaction", blockingWriters: false) {
            let (sources, bytesRead) = try lock.withLock { () throws -> ([EntrySource], Int) in
                var sources: [EntrySource] = []
                // Newest first: L0 by descending number, then the level's files, then the next level.
                let ordered = compaction.level == 0 ? compaction.inputs.sorted { $0.number > $1.number } : compaction.inputs
                for file in ordered {
                    guard let reader = readers[file.number] else { throw StoreError.corrupted(file: SSTFormat.fileName(file.number), offset: 0, reason: "input SST not open") }
                    sources.append(.table(SSTIterator(reader: reader, cache: nil)))
                }
                if !compaction.next.isEmpty {
                    sources.append(.level(LevelIterator(files: compaction.next.compactMap { readers[$0.number] }, cache: nil)))
                }
                return (sources, (compaction.inputs + compaction.next).reduce(0) { $0 + $1.size })
            }
            let maxSequence = (compaction.inputs + compaction.next).map(\.maxSequence).max() ?? 0
            var merged = MergingIterator(sources)
            try merged.seekToFirst()
            var outputs: [FileMetadata] = []
            var written = 0
            var builder = SSTBuilder(blockSize: settings.blockSize, bitsPerKey: settings.bloomBitsPerKey)
            var dropped = 0
            while merged.isValid {
                let keep = merged.withValue { value -> Bool in
                    if value == nil && compaction.dropTombstones { return false }
                    merged.key.withUnsafeBytes { builder.add($0, value) }
                    return true
                }
                if !keep { dropped += 1 }
                try merged.next()
                if builder.estimatedSize >= settings.targetFileSize {
                    let number = lock.withLock { () -> UInt64 in nextFileNumber += 1; return nextFileNumber - 1 }
                    let (file, bytes) = try writeTable(&builder, number: number, maxSequence: maxSequence)
                    outputs.append(file)
                    written += bytes
                    builder = SSTBuilder(blockSize: settings.blockSize, bitsPerKey: settings.bloomBitsPerKey)
                }
            }
            if !builder.isEmpty {
                let number = lock.withLock { () -> UInt64 in nextFileNumber += 1; return nextFileNumber - 1 }
                let (file, bytes) = try writeTable(&builder, number: number, maxSequence: maxSequence)
                outputs.append(file)
                written += bytes
            }
            try lock.withLock { () throws in
                var edit = VersionEdit(nextFileNumber: nextFileNumber)
                edit.deleted = compaction.inputs.map { (compaction.level, $0.number) } + compaction.next.map { (compaction.outputLevel, $0.number) }
                edit.added = outputs.map { (compaction.outputLevel, $0) }
                try install(edit)
                if compaction.level > 0, let last = compaction.inputs.last { compactPointers[compaction.level] = last.largest }
                lock.broadcast()
            }
            let detail = "L\(compaction.level)+L\(compaction.outputLevel): \(compaction.inputs.count)+\(compaction.next.count) files → \(outputs.count)"
                + (dropped > 0 ? ", \(dropped) tombstones dropped" : "")
            return ((), bytesRead, written, detail)
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
                let deepest = (1..<Self.levels).last { !version.levels[$0].isEmpty } ?? 1
                var inputs: [(Int, FileMetadata)] = []
                for level in 0..<Self.levels { inputs += version.levels[level].map { (level, $0) } }
                guard !inputs.isEmpty else { return nil }
                // Expressed as "every level above the deepest" + "the deepest": newest first.
                let upper = inputs.filter { $0.0 < deepest }.sorted { a, b in
                    a.0 != b.0 ? a.0 < b.0 : (a.0 == 0 ? a.1.number > b.1.number : KeyOrder.less(a.1.smallest, b.1.smallest))
                }
                return Compaction(level: -1, inputs: upper.map(\.1), next: version.levels[deepest], outputLevel: deepest, dropTombstones: true)
            }
            guard let compaction else { return }
            try mergeAll(compaction)
        }
    }

    /// `merge` for a full compaction, whose inputs come from several levels.
    private func mergeAll(_ compaction: Compaction) throws {
        let levelsOfInputs = lock.withLock { () -> [UInt64: Int] in
            var map: [UInt64: Int] = [:]
            for (level, files) in version.levels.enumerated() { for file in files { map[file.number] = level } }
            return map
        }
        try metrics.measure("compaction", blockingWriters: false) {
            var sources: [EntrySource] = []
            try lock.withLock { () throws in
                // Each input file is its own source; L0 files must stay newest first, and a
                // level's files never overlap, so the order below (level, then number/key) is
                // newest first for every key.
                for file in compaction.inputs {
                    guard let reader = readers[file.number] else { throw StoreError.corrupted(file: SSTFormat.fileName(file.number), offset: 0, reason: "input SST not open") }
                    sources.append(.table(SSTIterator(reader: reader, cache: nil)))
                }
                if !compaction.next.isEmpty {
                    sources.append(.level(LevelIterator(files: compaction.next.compactMap { readers[$0.number] }, cache: nil)))
                }
            }
            let all = compaction.inputs + compaction.next
            let maxSequence = all.map(\.maxSequence).max() ?? 0
            var merged = MergingIterator(sources)
            try merged.seekToFirst()
            var outputs: [FileMetadata] = []
            var written = 0
            var builder = SSTBuilder(blockSize: settings.blockSize, bitsPerKey: settings.bloomBitsPerKey)
            while merged.isValid {
                merged.withValue { value in
                    if let value { merged.key.withUnsafeBytes { builder.add($0, value) } }
                }
                try merged.next()
                if builder.estimatedSize >= settings.targetFileSize || (!merged.isValid && !builder.isEmpty) {
                    let number = lock.withLock { () -> UInt64 in nextFileNumber += 1; return nextFileNumber - 1 }
                    let (file, bytes) = try writeTable(&builder, number: number, maxSequence: maxSequence)
                    outputs.append(file)
                    written += bytes
                    builder = SSTBuilder(blockSize: settings.blockSize, bitsPerKey: settings.bloomBitsPerKey)
                }
            }
            try lock.withLock { () throws in
                var edit = VersionEdit(nextFileNumber: nextFileNumber)
                edit.deleted = all.map { (levelsOfInputs[$0.number] ?? 0, $0.number) }
                edit.added = outputs.map { (compaction.outputLevel, $0) }
                try install(edit)
                lock.broadcast()
            }
            return ((), all.reduce(0) { $0 + $1.size }, written, "full: \(all.count) files → \(outputs.count) in L\(compaction.outputLevel)")
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
