import StoreCore

/// The background thread's work — flushing the immutable memtable, then compacting until no
/// level is due — and the installation of the version edits both produce.
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
            return ((), 0, written, "\(table.count) entries, \(table.commits) commits → \(FileNames.table(number))")
        }
    }

    /// Finishes `builder` as SST `number`: temp file, fsync, rename, directory fsync; opens it.
    func writeTable(_ builder: inout SSTBuilder, number: UInt64, maxSequence: UInt64) throws -> (FileMetadata, Int) {
        let contents = builder.finish(maxSequence: maxSequence)
        let name = FileNames.table(number)
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
            retired.append(FileNames.table(number))
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
            guard let number = FileNames.number(of: name, .wal) else { return false }
            return number < limit
        }
        try storage.remove(obsolete)
    }

    public func waitForMaintenance() throws {
        while true {
            let due = try lock.withLock { () throws -> Bool in
                try checkUsable()
                return immutable != nil || compactionPolicy.pick(version) != nil
            }
            if !due {
                // Let a job that is running finish.
                maintenanceLock.withLock {}
                if !(try lock.withLock { () throws -> Bool in try checkUsable(); return immutable != nil || compactionPolicy.pick(version) != nil }) { return }
            }
            background?.wake()
            lock.withLock { lock.wait(milliseconds: 5) }
        }
    }
}
