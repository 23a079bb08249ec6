#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// The background thread's work — flush the immutable memtable, then compact until no level is
/// due, and unlink the SSTs no version needs any more — and the installation of the version
/// edits that flushes and compactions produce.
extension LSMStore {
    /// Background thread body: flush, then compact, until nothing is due.
    func runMaintenance() {
        while true {
            do {
                let worked = try maintenanceLock.withLock { () throws -> Bool in
                    guard lock.withLock({ isOpen && !closing && failure == nil }) else { return false }
                    releaseRetiredViews()
                    try deleteObsoleteFiles()
                    if lock.withLock({ immutable != nil }) {
                        try flushImmutable()
                        return true
                    }
                    return try compactOnce()
                }
                if !worked { return }
            } catch {
                lock.withLock { setFailure(error) }
                return
            }
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
            // The newest version of each key: every commit in the memtable is complete.
            var keys = 0
            table.forEach(from: nil, snapshot: .max) { key, value in
                builder.add(key, value)
                keys += 1
                return true
            }
            var opened: [UInt64: TableFile] = [:]
            var edit = lock.withLock {
                VersionEdit(lastSequence: max(persistedSequence, table.maxSequence), nextFileNumber: nextFileNumber, logNumber: logAfter)
            }
            var written = 0
            if !builder.isEmpty {
                let (file, bytes) = try writeTable(&builder, number: number, maxSequence: table.maxSequence)
                edit.added.append((0, file.metadata))
                opened[number] = file
                written = bytes
            }
            try logAndApply(edit, opened: opened) { immutable = nil }
            try removeObsoleteLogs()
            return ((), 0, written, "\(keys) keys, \(table.commits) commits → \(FileNames.table(number))")
        }
    }

    /// Finishes `builder` as SST `number`: temp file, fsync, rename, directory fsync; opens it.
    func writeTable(_ builder: inout SSTBuilder, number: UInt64, maxSequence: UInt64) throws -> (TableFile, Int) {
        let contents = builder.finish(maxSequence: maxSequence)
        let name = FileNames.table(number)
        try storage.writeAtomically(name, contents: contents)
        let reader = try SSTReader(number: number, file: try storage.open(name))
        let properties = builder.properties
        let metadata = FileMetadata(number: number, size: contents.count, smallest: properties.smallest, largest: properties.largest,
                                    maxSequence: maxSequence, entries: properties.entries)
        return (TableFile(metadata: metadata, reader: reader, obsoleteFiles: obsoleteFiles), contents.count)
    }

    /// Appends `edit` to the MANIFEST (synced), then installs the version it makes, with
    /// `alsoUnderLock` in the same step, and publishes it to readers. Files the edit removes (and
    /// does not add back elsewhere, as a move down a level does) are retired: unlinked once the
    /// last version naming them is gone. Call holding `maintenanceLock`, not `lock`.
    func logAndApply(_ edit: VersionEdit, opened: [UInt64: TableFile], _ alsoUnderLock: () -> Void = {}) throws {
        do {
            try manifest.append(edit.encoded())
            try manifest.sync()
        } catch {
            lock.withLock { setFailure(error) }
            throw error
        }
        let previous = lock.withLock { () -> Version in
            let previous = version
            version = previous.applying(edit, opened: opened)
            if let value = edit.lastSequence { persistedSequence = max(persistedSequence, value) }
            if let value = edit.logNumber { logNumber = max(logNumber, value) }
            let kept = Set(edit.added.map(\.file.number))
            for (_, number) in edit.deleted where !kept.contains(number) {
                previous.table(number)?.retire()
            }
            alsoUnderLock()
            publishView()
            lock.broadcast()
            return previous
        }
        _ = previous
    }

    /// Releases the views replaced since the last call, waiting a little for gets still reading
    /// them (they take microseconds), so that the files only they name can go.
    func releaseRetiredViews() {
        for _ in 0..<50 {
            guard lock.withLock({ reclaimViews() }) else { return }
            usleep(200)
        }
    }

    /// Unlinks the SSTs whose last version is gone, and drops their cached blocks. Call holding
    /// `maintenanceLock` (so it never runs once `close()` released the directory).
    func deleteObsoleteFiles() throws {
        let numbers = obsoleteFiles.take()
        guard !numbers.isEmpty else { return }
        for number in numbers { cache.evict(file: number) }
        try storage.remove(numbers.map(FileNames.table))
    }

    /// The next file number.
    func allocateFileNumber() -> UInt64 {
        lock.withLock {
            nextFileNumber += 1
            return nextFileNumber - 1
        }
    }

    /// Retires the WALs below the log number (their commits are all in SSTs now): keeps up to
    /// `recycle_wal` of them for reuse as later WALs, removes the others.
    func removeObsoleteLogs() throws {
        let obsolete = lock.withLock { () -> [UInt64] in
            let obsolete = liveLogs.filter { $0 < logNumber }
            liveLogs.removeAll { $0 < logNumber }
            var removed: [UInt64] = []
            for number in obsolete {
                if number >= firstOwnLog && recycledLogs.count < settings.recycleWAL {
                    recycledLogs.append(number)
                } else {
                    removed.append(number)
                }
            }
            return removed
        }
        try storage.remove(obsolete.map(FileNames.wal))
    }

    public func waitForMaintenance() throws {
        func due() throws -> Bool {
            try lock.withLock { () throws -> Bool in
                try checkUsable()
                return immutable != nil || compactionPolicy.pick(version.layout) != nil || !retiredViews.isEmpty
            } || !obsoleteFiles.isEmpty
        }
        while true {
            if try !due() {
                // Let a job that is running finish.
                maintenanceLock.withLock {}
                if try !due() { return }
            }
            background?.wake()
            lock.withLock { lock.wait(milliseconds: 5) }
        }
    }
}
