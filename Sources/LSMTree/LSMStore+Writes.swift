#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// The write path: every commit and `sync()` goes through the writer queue; the leader of each
/// group makes room in the memtable, writes the group's WAL records with one write (and one sync
/// under durability `always`), applies them to the memtable and publishes the last sequence.
extension LSMStore {
    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        try StoreLimits.check(valueSize: value.count)
        try write(.put(key: key, value: value), weight: key.count + value.count + WriteRequest.operationWeight)
    }

    public func delete(_ key: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        try write(.delete(key: key), weight: key.count + WriteRequest.operationWeight)
    }

    public func apply(_ batch: WriteBatch) throws {
        try batch.validate()
        guard !batch.isEmpty else {
            guard usable.load(ordering: .acquiring) else { throw unusableError() }
            return
        }
        try write(.batch(batch), weight: batch.userBytes + batch.count * WriteRequest.operationWeight)
    }

    /// Makes every acknowledged commit durable: a request in the writer queue, so the leader that
    /// takes it syncs the WAL after writing its group (concurrent `sync()` calls share one sync).
    public func sync() throws {
        try write(.sync, weight: 1)
    }

    @inline(__always)
    private func write(_ request: WriteRequest, weight: Int) throws {
        try writers.commit(request, weight: weight) { group in try writeGroup(group) }
    }

    /// The leader's work for one group. Runs alone (the queue runs one leader at a time).
    func writeGroup(_ group: [WriteRequest]) throws {
        var commits = 0
        var userBytes = 0
        var wantsSync = false
        for request in group {
            if request.isCommit {
                commits += 1
                userBytes += request.userBytes
            } else if case .sync = request {
                wantsSync = true
            }
        }
        if commits > 0 {
            try makeRoomForWrite()
        } else {
            try lock.withLock { try checkUsable() }
        }
        let first = lastSequence.load(ordering: .relaxed) + 1
        var sequence = first - 1
        for request in group where request.isCommit {
            sequence += 1
            request.encode(sequence: sequence, into: &recordBuffer)
            wal.add(recordBuffer)
        }
        do {
            try wal.write()
            if wantsSync || (durability == .always && commits > 0) {
                try wal.sync()
                unsynced.store(false, ordering: .relaxed)
            } else if commits > 0 && durability == .interval {
                unsynced.store(true, ordering: .relaxed)
            }
        } catch {
            // The WAL's state is unknown after a failed write or sync: stop until reopened.
            lock.withLock { setFailure(error) }
            throw error
        }
        guard commits > 0 else { return }
        sequence = first
        memtable.beginWrite()
        for request in group where request.isCommit {
            request.apply(to: memtable, sequence: sequence)
            sequence += 1
        }
        memtable.endWrite()
        // Readers that take a snapshot from here on see the whole group.
        lastSequence.store(sequence - 1, ordering: .releasing)
        metrics.addUserBytes(userBytes)
    }

    private enum Room {
        case ready, slowDown(level0: Int), freeze, retry
    }

    /// Makes room in the memtable for the leader's group. Writers slow down by 1 ms once L0
    /// reaches the slowdown trigger, and stop while L0 is at the stop trigger or a full memtable
    /// waits for the previous one's flush. Each delay is a maintenance event with
    /// `blockedWriters`, so reports show the pauses users feel; the writers queued behind the
    /// leader wait with it and then go as one group.
    private func makeRoomForWrite() throws {
        var slowed = false
        while true {
            let room = try lock.withLock { () throws -> Room in
                try checkUsable()
                let level0 = version.layout.levels[0].count
                if !slowed && level0 >= settings.l0SlowdownTrigger && level0 < settings.l0StopTrigger {
                    return .slowDown(level0: level0)
                }
                let full = memtable.approximateBytes >= settings.writeBufferSize
                if level0 >= settings.l0StopTrigger || (full && immutable != nil) {
                    let start = MonotonicClock.now()
                    let reason = level0 >= settings.l0StopTrigger ? "\(level0) L0 files" : "memtable full, previous one not flushed"
                    background?.wake()
                    while failure == nil && isOpen && !closing
                        && (version.layout.levels[0].count >= settings.l0StopTrigger
                            || (memtable.approximateBytes >= settings.writeBufferSize && immutable != nil)) {
                        lock.wait(milliseconds: 100)
                    }
                    metrics.record(MaintenanceEvent(kind: "stall", startNanos: start, durationNanos: MonotonicClock.now() &- start,
                                                    bytesRead: 0, bytesWritten: 0, blockedWriters: true, detail: reason))
                    return .retry
                }
                return full ? .freeze : .ready
            }
            switch room {
            case .ready:
                return
            case .retry:
                continue
            case let .slowDown(level0):
                let start = MonotonicClock.now()
                usleep(1000)
                slowed = true
                metrics.record(MaintenanceEvent(kind: "slowdown", startNanos: start, durationNanos: MonotonicClock.now() &- start,
                                                bytesRead: 0, bytesWritten: 0, blockedWriters: true, detail: "\(level0) L0 files"))
            case .freeze:
                try freezeMemtable()
                background?.wake()
            }
        }
    }

    /// Turns the memtable immutable and starts a new one with a new WAL. Call as the write
    /// leader, not holding `lock`, with no immutable memtable.
    func freezeMemtable() throws {
        let (number, recycled) = lock.withLock { () -> (UInt64, UInt64?) in
            nextFileNumber += 1
            liveLogs.append(nextFileNumber - 1)
            return (nextFileNumber - 1, recycledLogs.isEmpty ? nil : recycledLogs.removeFirst())
        }
        let file: DurableFile
        let space: PreallocatedSpace?
        do {
            // The frozen memtable's WAL is complete on disk.
            if durability != .always { try wal.sync() }
            if let recycled {
                file = try reuseWAL(recycled, as: number)
                space = nil
            } else {
                file = try storage.create(FileNames.wal(number))
                space = try walSpace(for: file)
            }
        } catch {
            lock.withLock { setFailure(error) }
            throw error
        }
        let previous = wal!
        wal = LogWriter(file: file, offset: 0, space: space, logNumber: number)
        walNumber = number
        unsynced.store(false, ordering: .relaxed)
        lock.withLock {
            immutable = memtable
            immutableLogNumber = number
            memtable = Memtable(writeBufferSize: settings.writeBufferSize)
            publishView()
        }
        previous.close()
    }

    /// Renames the kept WAL `old` to WAL `number` (durable once the directory is fsynced) and
    /// opens it to be overwritten from the start. Its old records carry log number `old`, so
    /// recovery never takes them for records of `number`; a write past its old size grows it.
    func reuseWAL(_ old: UInt64, as number: UInt64) throws -> DurableFile {
        try storage.rename(FileNames.wal(old), to: FileNames.wal(number))
        return try storage.open(FileNames.wal(number), writable: true)
    }

    /// Zero-filled space ahead of a new WAL's writes (setting `preallocate`). Bounded at twice
    /// the memtable budget: the WAL is left behind when its memtable fills, at about that size.
    func walSpace(for file: DurableFile) throws -> PreallocatedSpace? {
        guard settings.preallocate else { return nil }
        return try PreallocatedSpace(file: file, start: 0, limit: 2 * settings.writeBufferSize)
    }

    /// The interval sync thread's body: a sync request when commits were written since the last.
    func syncIfDirty() {
        guard unsynced.load(ordering: .relaxed) else { return }
        do {
            try write(.sync, weight: 1)
        } catch {
            // A closed store needs no sync; a failed one reports the failure on its next call.
        }
    }
}
