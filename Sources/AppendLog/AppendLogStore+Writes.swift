import StoreCore

extension AppendLogStore {
    // MARK: Writes

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        try StoreLimits.check(valueSize: value.count)
        try key.withUnsafeBytes { key in
            try value.withUnsafeBytes { value in try commit(.put(key: key, value: value)) }
        }
    }

    public func delete(_ key: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        let present = try stateLock.withSharedLock { () throws -> Bool in
            try checkUsable()
            return keydir.value(forKey: key) != nil
        }
        metrics.addUserBytes(key.count)
        // Deleting an absent key changes nothing, so nothing is written. (A put racing this call
        // may land first or after it: either order is a serial order of the two.)
        guard present else { return }
        try key.withUnsafeBytes { key in try commit(.delete(key: key)) }
    }

    public func apply(_ batch: WriteBatch) throws {
        try batch.validate()
        guard !batch.isEmpty else {
            try stateLock.withSharedLock { try checkUsable() }
            return
        }
        try withUnsafePointer(to: batch) { batch in try commit(.batch(batch)) }
    }

    /// Commits `request` through the writer queue: this thread either leads a group (and writes
    /// it) or waits for the leader that wrote its commit. A policy-triggered full compaction runs
    /// on the leader's thread after the group is acknowledged.
    private func commit(_ request: WriteRequest) throws {
        let size = request.encodedSize(settings.format, tombstoneFile: tombstones != nil)
            + (tombstones != nil ? request.tombstoneSize : 0)
        guard size <= Int(UInt32.max) else {
            throw StoreError.invalidArgument("a commit of \(size) bytes does not fit in one segment (4 GiB)")
        }
        var compactNow = false
        // Unretained: the caller holds the store. (Retaining it costs more than usual: the
        // maintenance threads' weak references give it a side table of reference counts.)
        unowned(unsafe) let store = self
        try writers.commit(request, weight: size) { group in
            compactNow = try store.writeGroup(group)
        }
        if compactNow { try compactFully(trigger: "policy") }
    }

    /// The leader's work: appends the group's commits to the active segment with one write,
    /// syncs it as the durability option asks, then publishes the keydir changes of the whole
    /// group under the exclusive lock. A failed write is cut back off the file so the segment
    /// never holds a partial commit.
    /// - Returns: whether the policy asks for a full compaction now.
    private func writeGroup(_ group: [WriteRequest]) throws -> Bool {
        writeLock.lock()
        defer { writeLock.unlock() }
        try checkUsable()
        writeBuffer.removeAll(keepingCapacity: true)
        let format = settings.format
        for request in group { request.encode(into: &writeBuffer, format, tombstoneFile: tombstones != nil) }
        let count = writeBuffer.count
        if active.size > 0 && active.size + count > settings.segmentSize {
            try startActiveSegment()
            maintenanceThread?.wake()  // the sealed segment needs its hint
        }
        guard active.size + count <= Int(UInt32.max) else {
            throw StoreError.invalidArgument("a group of \(count) bytes does not fit in one segment (4 GiB)")
        }
        let segment = active!
        let base = segment.size
        // Tombstones go first (and under `always` are synced first): a commit found in a segment
        // after a crash then always has its tombstones (FORMAT.md, "Tombstone file").
        let tombstoneBase = tombstones?.size ?? 0
        let tombstoneCount = tombstones == nil ? 0 : try writeTombstones(of: group, segment: segment, base: base)
        do {
            if count > 0 {
                try syncTombstonesBeforeSegment()
                try segment.space?.prepare(through: base + count)
                try segment.file.write(writeBuffer, at: Int64(base))
                if durability == .always { try segment.file.syncData() }
            }
        } catch {
            do {
                segment.space?.noteTruncated(to: base)
                try segment.file.truncate(to: Int64(base))
                if let tombstones, tombstoneCount > 0 {
                    try tombstones.file.truncate(to: Int64(tombstoneBase))
                    tombstones.size = tombstoneBase
                }
            } catch {
                noteFailureHoldingWriteLock(error)
            }
            // An fsync failure leaves the page cache's state unknown: stop writing until reopen.
            if durability == .always { noteFailureHoldingWriteLock(error) }
            throw error
        }
        if durability != .always && count > 0 { segment.needsSync = true }
        var userBytes = 0
        stateLock.lockExclusive()
        segment.size += count
        totals.size += count
        totals.tombstoneFileBytes += tombstoneCount
        var offset = base
        for request in group {
            publish(request, at: &offset, in: segment)
            userBytes += request.userBytes
        }
        let compactNow = shouldCompact()
        stateLock.unlockExclusive()
        metrics.addUserBytes(userBytes)
        guard compactNow else { return false }
        switch settings.mode {
        case .full, .vacuum:
            return true
        case .incremental:
            mergeWanted.store(true, ordering: .releasing)
            maintenanceThread?.wake()
            return false
        }
    }

    /// `deletes=tombstone-file`: appends the group's tombstones, each naming where its delete
    /// falls in `segment` (whose commits start at `base`), and syncs them under `always`.
    /// - Returns: the bytes written.
    private func writeTombstones(of group: [WriteRequest], segment: Segment, base: Int) throws -> Int {
        guard let tombstones else { return 0 }
        let format = settings.format
        tombstones.buffer.removeAll(keepingCapacity: true)
        var at = base
        for request in group {
            switch request {
            case let .put(key, value):
                at += format.putSize(keyCount: key.count, valueCount: value.count)
            case let .delete(key):
                TombstoneFile.append(key: key, flags: TombstoneFile.endsCommit, segment: segment.id, position: at,
                                     commitEnd: at, to: &tombstones.buffer)
            case let .batch(batch):
                let commitEnd = at + request.encodedSize(format, tombstoneFile: true)
                let flags = commitEnd > at ? TombstoneFile.needsSegmentCommit : 0
                let last = batch.pointee.operations.lastIndex { if case .delete = $0 { true } else { false } }
                for (index, operation) in batch.pointee.operations.enumerated() {
                    switch operation {
                    case let .put(key, value):
                        at += format.putSize(keyCount: key.count, valueCount: value.count)
                    case let .delete(key):
                        key.withUnsafeBytes { key in
                            TombstoneFile.append(key: key, flags: flags | (index == last ? TombstoneFile.endsCommit : 0),
                                                 segment: segment.id, position: at, commitEnd: commitEnd, to: &tombstones.buffer)
                        }
                    }
                }
                at = commitEnd
            }
        }
        let count = tombstones.buffer.count
        guard count > 0 else { return 0 }
        let start = tombstones.size
        do {
            try tombstones.file.write(tombstones.buffer, at: Int64(start))
            if durability == .always {
                try tombstones.file.syncData()
            } else {
                tombstones.needsSync = true
                tombstones.unsyncedBeforeSegment = true
            }
        } catch {
            do {
                try tombstones.file.truncate(to: Int64(start))
            } catch {
                noteFailureHoldingWriteLock(error)
            }
            if durability == .always { noteFailureHoldingWriteLock(error) }
            throw error
        }
        tombstones.size += count
        tombstones.endsInSeal = false
        return count
    }

    /// Under `interval` and `none`: makes the tombstones written so far durable before segment
    /// records follow them. A power loss could otherwise keep a later commit's puts and lose an
    /// earlier delete — a state after no prefix of the commits. (The other order needs no sync:
    /// recovery drops a tombstone whose segment does not reach its position.) Call holding
    /// `writeLock`.
    private func syncTombstonesBeforeSegment() throws {
        guard let tombstones, tombstones.unsyncedBeforeSegment else { return }
        do {
            try tombstones.file.syncData()
        } catch {
            // The pages' state is unknown after a failed sync: stop writing until reopen.
            noteFailureHoldingWriteLock(error)
            throw error
        }
        tombstones.unsyncedBeforeSegment = false
    }

    /// Syncs tombstones not yet synced, before a segment sync makes later commits durable (their
    /// tombstones were written before them). Call holding `writeLock`.
    func syncTombstonesIfNeeded() throws {
        guard let tombstones, tombstones.needsSync else { return }
        try tombstones.file.syncData()
        tombstones.needsSync = false
    }

    /// Applies one written commit, whose records start at `offset` in `segment`, to the keydir,
    /// and moves `offset` past it. Call holding `stateLock` exclusively.
    private func publish(_ request: WriteRequest, at offset: inout Int, in segment: Segment) {
        let format = settings.format
        let tombstoneFile = tombstones != nil
        switch request {
        case let .put(key, value):
            let length = format.putSize(keyCount: key.count, valueCount: value.count)
            notePut(key, Location(segment: segment.slot, offset: UInt32(offset), length: UInt32(length)), in: segment)
            offset += length
        case let .delete(key):
            if tombstoneFile {
                noteTombstone(key)
            } else {
                let length = format.deleteSize(keyCount: key.count)
                noteDelete(key, recordSize: length, in: segment)
                offset += length
            }
        case let .batch(batch):
            var records = 0
            for operation in batch.pointee.operations {
                switch operation {
                case let .put(key, value):
                    let length = format.putSize(keyCount: key.count, valueCount: value.count)
                    key.withUnsafeBytes { notePut($0, Location(segment: segment.slot, offset: UInt32(offset), length: UInt32(length)), in: segment) }
                    offset += length
                    records += 1
                case let .delete(key):
                    if tombstoneFile {
                        key.withUnsafeBytes { noteTombstone($0) }
                    } else {
                        let length = format.deleteSize(keyCount: key.count)
                        key.withUnsafeBytes { noteDelete($0, recordSize: length, in: segment) }
                        offset += length
                        records += 1
                    }
                }
            }
            if records > 0 { offset += format.commitSize(count: records) }
        }
    }

    /// `deletes=tombstone-file`: `key` is deleted; its tombstone is in the tombstone file, not a
    /// segment. Call holding `stateLock` exclusively (or during open).
    func noteTombstone(_ key: UnsafeRawBufferPointer) {
        if let old = keydir.removeValue(forKey: key) { noteSuperseded(old) }
    }

    /// Records that `key` now lives at `location` in `segment`. Call holding `stateLock`
    /// exclusively (or during open).
    func notePut(_ key: UnsafeRawBufferPointer, _ location: Location, in segment: Segment) {
        if let old = keydir.insert(location, forKey: key) { noteSuperseded(old) }
        segment.liveBytes += Int(location.length)
        segment.records += 1
        totals.liveBytes += Int(location.length)
        totals.records += 1
    }

    /// Records a tombstone for `key` of `recordSize` bytes in `segment`. Call holding `stateLock`
    /// exclusively (or during open).
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

    /// Whether the compaction policy asks for a compaction now. Call holding `stateLock`.
    func shouldCompact() -> Bool {
        switch settings.policy {
        case .manual:
            return false
        case .ratio:
            // The tombstone file is all dead weight: vacuum empties it.
            let dead = totals.size - totals.liveBytes + totals.tombstoneFileBytes
            return dead >= settings.minimumDeadBytes && Double(dead) >= settings.ratio * Double(totals.size + totals.tombstoneFileBytes)
        case .hive:
            return totals.deadRecords > 60 && Double(totals.deadRecords) > 0.15 * Double(totals.records)
        }
    }

    // MARK: Sync

    public func sync() throws {
        try syncLock.withLock { try syncUnsyncedSegments() }
    }

    /// `Durability.interval`: called by the sync thread every interval.
    func syncIfDirty() {
        syncLock.withLock { _ = try? syncUnsyncedSegments() }
    }

    /// Syncs every segment holding commits not yet synced (the active one; under `none` also
    /// sealed ones). The flags are read and cleared under `writeLock` and the fsyncs run without
    /// it, on pinned segments, so writers go on meanwhile: a commit written after a flag was
    /// cleared sets it again for the next sync. Call holding `syncLock`, so that a sync never
    /// returns while another one that cleared a flag it relies on is still in its fsync.
    private func syncUnsyncedSegments() throws {
        var dirty: [Segment] = []
        let stripe = ThreadStripe.current()
        writeLock.lock()
        stateLock.lockShared(stripe: stripe)
        do {
            try checkUsable()
        } catch {
            stateLock.unlockShared(stripe: stripe)
            writeLock.unlock()
            throw error
        }
        do {
            // Tombstones first: a segment synced below may hold commits whose tombstones are there.
            try syncTombstonesIfNeeded()
        } catch {
            stateLock.unlockShared(stripe: stripe)
            noteFailureHoldingWriteLock(error)
            writeLock.unlock()
            throw error
        }
        for case let segment? in segments where segment.needsSync {
            segment.needsSync = false
            segment.pin(stripe: stripe)
            dirty.append(segment)
        }
        stateLock.unlockShared(stripe: stripe)
        writeLock.unlock()
        defer { for segment in dirty { segment.unpin(stripe: stripe) } }
        for segment in dirty {
            do {
                try segment.file.syncData()
            } catch {
                noteFailure(error)
                throw error
            }
        }
    }
}
