#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// Transactions: `begin`, then `read`/`modify`/`reserve`/`free`, then `commit` (all or nothing,
/// also across a crash) or `rollback`.
extension ChunkFile {
    public func begin() throws(StoreError) {
        precondition(!inTransaction, "a chunk file runs one transaction at a time")
        if let failure {
            throw .io(call: "earlier write", errno: 5, path: "\(file.path) (store stopped after: \(failure); reopen it)")
        }
        inTransaction = true
        transactionMeta = meta
        transactionVirtualCount = levels[0].count
    }

    /// A writable copy of chunk `virtual` that the commit will write (if its bytes changed).
    /// The pointer stays valid until the transaction ends.
    public func modify(_ virtual: UInt32) throws(StoreError) -> UnsafeMutableRawPointer {
        precondition(inTransaction)
        if let copy = working[virtual] { return copy }
        let original = try load(reference(of: virtual), virtual: virtual)
        let copy = takeBuffer()
        copy.copyMemory(from: original, byteCount: chunkSize)
        working.set(virtual, copy)
        return copy
    }

    /// A new chunk, zero-filled, with its virtual id.
    public func reserve() -> (virtual: UInt32, bytes: UnsafeMutableRawPointer) {
        precondition(inTransaction)
        let virtual: UInt32
        if let reused = freeVirtuals.popLast() {
            virtual = reused
            reservedFromFree.append(reused)
        } else {
            virtual = UInt32(levels[0].count)
            levels[0].append(0)
        }
        let bytes = takeBuffer()
        bytes.initializeMemory(as: UInt8.self, repeating: 0, count: chunkSize)
        working.set(virtual, bytes)
        return (virtual, bytes)
    }

    /// Releases chunk `virtual`; its physical chunk is reused once a later commit is durable.
    public func free(_ virtual: UInt32) {
        precondition(inTransaction)
        if let copy = working.remove(virtual) { returnBuffer(copy) }
        freedVirtuals.append(virtual)
    }

    /// The user's root and counters, stored in the meta of the commit.
    public var root: UInt32 {
        get { inTransaction ? transactionMeta.userRoot : meta.userRoot }
        set {
            precondition(inTransaction)
            transactionMeta.userRoot = newValue
        }
    }

    public var counters: (UInt64, UInt64) {
        get { inTransaction ? transactionMeta.userCounters : meta.userCounters }
        set {
            precondition(inTransaction)
            transactionMeta.userCounters = newValue
        }
    }

    /// Forgets every change of the open transaction.
    public func rollback() {
        precondition(inTransaction)
        working.removeAll(releasing: returnBuffer)
        freedVirtuals.removeAll(keepingCapacity: true)
        if levels[0].count > transactionVirtualCount {
            levels[0].removeLast(levels[0].count - transactionVirtualCount)
        }
        freeVirtuals.append(contentsOf: reservedFromFree.reversed())
        reservedFromFree.removeAll(keepingCapacity: true)
        forceRewrite = false
        inTransaction = false
    }

    /// Makes the transaction's changes current: changed chunks → free physical chunks, then the
    /// table chunks that map them, then the meta slot `txid % 2`; when durable, one fdatasync
    /// after all of them if the previous commit is durable, else one before the meta and one after. A failure leaves the file at the previous commit and stops the
    /// chunk file until it is reopened.
    /// - Returns: whether anything was written (a transaction that changed no bytes writes nothing).
    @discardableResult
    public func commit(forceSync: Bool = false) throws(StoreError) -> Bool {
        precondition(inTransaction)
        do {
            return try commitChanges(forceSync: forceSync)
        } catch {
            // Memory (table, free lists) may be ahead of the file now: stop until reopened.
            fail(error)
            throw error
        }
    }

    private func commitChanges(forceSync: Bool) throws(StoreError) -> Bool {
        defer {
            // Left over only when the commit failed. Level-0 pages are in `writes` too until the
            // chunks are written: return each frame once.
            for write in writes where write.kind != .page { returnBuffer(write.bytes) }
            writes.removeAll(keepingCapacity: true)
            for new in newPages { returnBuffer(new.page) }
            newPages.removeAll(keepingCapacity: true)
            working.removeAll()
            freedVirtuals.removeAll(keepingCapacity: true)
            reservedFromFree.removeAll(keepingCapacity: true)
            forceRewrite = false
            inTransaction = false
        }
        // What readers no longer see, and chunks released by durable commits, become free.
        reclaim()
        let txid = meta.txid + 1
        // The dirty table-chunk lists are kept between commits, so a commit allocates none.
        var dirtyTable = dirtyTableScratch
        dirtyTableScratch = []
        defer { dirtyTableScratch = dirtyTable }
        if dirtyTable.count > levels.count { dirtyTable.removeLast(dirtyTable.count - levels.count) }
        for level in dirtyTable.indices { dirtyTable[level].removeAll(keepingCapacity: true) }
        while dirtyTable.count < levels.count { dirtyTable.append([]) }
        // 1. Data chunks whose bytes changed, in virtual-id order.
        try working.forEachSorted { (virtual, buffer) throws(StoreError) in
            let old = ChunkReference(packed: levels[0][Int(virtual)])
            if old.isMapped && !forceRewrite {
                let original = try load(old, virtual: virtual)
                if memcmp(original, buffer, chunkSize) == 0 {
                    chunksSkippedUnchanged += 1
                    returnBuffer(buffer)
                    return
                }
            }
            let physical = allocate()
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(start: buffer, count: chunkSize))
            levels[0][Int(virtual)] = ChunkReference(physical: physical, checksum: checksum).packed
            dirtyTable[0].append(Int(virtual) / entriesPerChunk)
            if old.isMapped {
                freeChunks.release(old.physical, by: txid)
                // Not in the new commit: leave its cache slot to live chunks.
                if let frame = cache.remove(old.physical) { retireFrame(frame) }
            }
            writes.append(ChunkWrite(physical: physical, bytes: buffer, kind: .data, checksum: checksum))
        }
        for virtual in freedVirtuals {
            let old = ChunkReference(packed: levels[0][Int(virtual)])
            if old.isMapped { freeChunks.release(old.physical, by: txid) }
            levels[0][Int(virtual)] = 0
            dirtyTable[0].append(Int(virtual) / entriesPerChunk)
            // The id may be handed out again at once: older commits map it through their own table.
            freeVirtuals.append(virtual)
        }
        if forceRewrite { markTableChunksForRelocation(&dirtyTable) }
        let changed = !writes.isEmpty || !freedVirtuals.isEmpty || transactionMeta.userRoot != meta.userRoot
            || transactionMeta.userCounters != meta.userCounters || levels[0].count != Int(meta.virtualCount)
            || transactionMeta.chunkCount != meta.chunkCount
        guard changed else { return false }
        var next = transactionMeta
        // 2. Table chunks, level by level; each rewritten chunk dirties its parent entry.
        var previousRoot = meta.tableRoot
        growTableLevels(&dirtyTable, previousRoot: &previousRoot)
        for level in 0..<levels.count {
            dirtyTable[level].sort()
            var previousIndex = -1
            for position in dirtyTable[level].indices {
                let index = dirtyTable[level][position]
                if index == previousIndex { continue }
                previousIndex = index
                let buffer: UnsafeMutableRawPointer
                if level == 0 {
                    // A level-0 table chunk is also the next snapshot's page for readers.
                    buffer = makePage(index)
                    newPages.append(NewPage(index: index, page: buffer))
                } else {
                    buffer = takeBuffer()
                    storeTableChunk(levels[level], index, into: buffer)
                }
                let physical = allocate()
                let checksum = CRC32C.checksum(UnsafeRawBufferPointer(start: buffer, count: chunkSize))
                let fresh = ChunkReference(physical: physical, checksum: checksum)
                writes.append(ChunkWrite(physical: physical, bytes: buffer, kind: level == 0 ? .page : .table, checksum: checksum))
                if level == levels.count - 1 {
                    if previousRoot.isMapped { freeChunks.release(previousRoot.physical, by: txid) }
                    next.tableRoot = fresh
                } else {
                    let old = ChunkReference(packed: levels[level + 1][index])
                    if old.isMapped { freeChunks.release(old.physical, by: txid) }
                    levels[level + 1][index] = fresh.packed
                    dirtyTable[level + 1].append(index / entriesPerChunk)
                }
            }
        }
        next.txid = txid
        next.tableDepth = UInt32(levels.count)
        next.virtualCount = UInt32(levels[0].count)
        next.chunkCount = max(next.chunkCount, highestAllocated + 1)
        let durable = syncOnCommit || forceSync
        // One sync is enough for a shadow commit whose predecessor is durable: open checks the
        // chunks of a single-sync commit and falls back to the predecessor if any is torn.
        let singleSync = durable && journal == nil && durableTxid == meta.txid
        next.singleSync = singleSync
        let metaBytes = takeBuffer()
        defer { returnBuffer(metaBytes) }
        next.encode(into: metaBytes)
        let metaWrite = UnsafeRawBufferPointer(start: metaBytes, count: ChunkMeta.encodedSize)
        let metaOffset = Int64(next.txid % 2) * Int64(chunkSize)
        if let journal {
            // One sync: the journal holds the whole commit (chunks, meta, checksummed marker)
            // before any of it reaches the chunk file, where it goes — to free chunks and the
            // meta slot, exactly as under shadow paging — unsynced until the next checkpoint.
            if journal.needsCheckpoint { try checkpoint(durable: !reuseWithoutSync) }
            try journal.append(txid: next.txid, writes: writes, meta: metaBytes, growAhead: syncOnCommit)
            if durable { try journal.sync() }
            try writeChunks()
            try file.write(metaWrite, at: metaOffset)
        } else if singleSync {
            // One sync for chunks and meta together. Until it returns the meta may reach the disk
            // before some chunk it names; open then finds that chunk's CRC wrong and reopens the
            // previous commit, which is durable and whose chunks this one did not overwrite.
            try writeChunks()
            try file.write(metaWrite, at: metaOffset)
            try file.syncData()
        } else {
            try writeChunks()
            // Two syncs when the previous commit may not be on disk (durability `interval` or
            // `none` before a forced sync): there is nothing intact to fall back to, so the
            // chunks and table must be on disk before a meta that names them can be (the file
            // layer has no other barrier), and the meta before the call returns.
            if durable { try file.syncData() }
            try file.write(metaWrite, at: metaOffset)
            if durable { try file.syncData() }
        }
        if durable || reuseWithoutSync { durableTxid = next.txid }
        meta = next
        commits += 1
        publish(next)
        return true
    }

    /// Makes every commit so far durable, so chunks they released can be reused (once no reader
    /// can see them).
    ///
    /// `commit=journal`: syncing the journal is enough; with `checkpoint` (a clean close) the
    /// chunk file is synced too and the journal emptied, so the next open has nothing to replay.
    public func sync(checkpoint: Bool = false) throws(StoreError) {
        precondition(!inTransaction)
        do {
            if let journal {
                if checkpoint { try self.checkpoint(durable: true) } else { try journal.sync() }
            } else {
                try file.syncData()
            }
        } catch {
            fail(error)
            throw error
        }
        durableTxid = meta.txid
        reclaim()
    }

    /// `commit=journal`: makes the chunk file durable through the last commit, then starts a
    /// new journal generation. Two syncs when `durable` (none under durability `none`).
    func checkpoint(durable: Bool) throws(StoreError) {
        guard let journal else { return }
        if durable { try file.syncData() }
        try journal.reset(base: meta.txid, synced: syncOnCommit, durable: durable)
    }

    // MARK: Helpers

    /// Adds table levels until the top one fits in one chunk, and lengthens each level to cover
    /// the one below. A new top level's first entry is the old root.
    private func growTableLevels(_ dirtyTable: inout [[Int]], previousRoot: inout ChunkReference) {
        var level = 0
        while true {
            let needed = (levels[level].count + entriesPerChunk - 1) / entriesPerChunk
            if level == levels.count - 1 {
                guard needed > 1 else { return }
                var top = [UInt64](repeating: 0, count: needed)
                top[0] = previousRoot.isMapped ? previousRoot.packed : 0
                levels.append(top)
                dirtyTable.append([])
                // The old root is now chunk 0 of its level, replaced (if at all) through its new
                // parent; the new root has no earlier copy to release.
                previousRoot = ChunkReference(physical: 0, checksum: 0)
            } else if levels[level + 1].count < needed {
                levels[level + 1].append(contentsOf: repeatElement(0, count: needed - levels[level + 1].count))
            }
            level += 1
        }
    }

    /// Relocation: every table chunk at or past `relocationLimit` is rewritten too.
    private func markTableChunksForRelocation(_ dirtyTable: inout [[Int]]) {
        for level in 1..<max(1, levels.count) {
            for (index, packed) in levels[level].enumerated() where UInt64(ChunkReference(packed: packed).physical) >= relocationLimit {
                dirtyTable[level - 1].append(index)
            }
        }
        if UInt64(meta.tableRoot.physical) >= relocationLimit {
            dirtyTable[levels.count - 1].append(0)
        }
    }

    /// A physical chunk to write: the lowest free one, or a new one at the end. Its old bytes may
    /// still be cached (from before it was released, or re-read by a reader of an older
    /// snapshot while it could still see it): the cache forgets them now, when no reader can.
    func allocate() -> UInt32 {
        let physical: UInt32
        if let free = freeChunks.takeLowest() {
            highestAllocated = max(highestAllocated, UInt64(free))
            physical = free
        } else {
            let next = max(meta.chunkCount, highestAllocated + 1)
            highestAllocated = next
            physical = UInt32(next)
        }
        if let frame = cache.remove(physical) { retireFrame(frame) }
        // Its bytes change now: a reader checks them again (none can reach it until published).
        mapping?.clearVerified(physical)
        return physical
    }

    /// Writes the commit's chunks in physical order, one pwrite each, and puts the data chunks in
    /// the cache (the next reads of what was just written are hits). Level-0 table chunks stay
    /// as the next snapshot's pages; higher table chunks go back to the pool.
    ///
    /// Adjacent chunks are not coalesced into one larger write on purpose: a large write makes
    /// the page cache hold that range in a large folio, and ext4 then walks the whole folio for
    /// every later 4 KiB chunk written into it (measured with batches of 1,000 puts over 1M keys:
    /// 170k ops/s coalescing up to 64 chunks, 202k one chunk per write).
    private func writeChunks() throws(StoreError) {
        // (The journal's fdatasync is the one per commit there; the chunk file is synced at
        // checkpoints only, so growing it ahead would save nothing.)
        if syncOnCommit && journal == nil && highestAllocated + 1 > fileChunks { try extendAhead() }
        writes.sort { $0.physical < $1.physical }
        for index in writes.indices {
            let offset = Int64(writes[index].physical) * Int64(chunkSize)
            try file.write(UnsafeRawBufferPointer(start: writes[index].bytes, count: chunkSize), at: offset)
        }
        chunksWritten += writes.count
        if let mapping {
            // Readers of the next snapshot read these from the mapping: the file holds them now,
            // and their bytes are the buffers just checksummed for the table.
            if let last = writes.last { mapping.fileHolds(atLeast: UInt64(last.physical) + 1) }
            for write in writes {
                mapping.markVerified(write.physical)
                if write.kind != .page { returnBuffer(write.bytes) }
            }
            writes.removeAll(keepingCapacity: true)
            return
        }
        // Only now, all written: on a failure above every buffer is still the writer's.
        for write in writes {
            switch write.kind {
            case .data:
                // The written frame becomes the cached copy.
                if let displaced = cache.adopt(write.physical, write.bytes) { retireFrame(displaced) }
            case .page: break
            case .table: returnBuffer(write.bytes)
            }
        }
        writes.removeAll(keepingCapacity: true)
    }

    /// Durability `always`: grows the file by zero-filled chunks ahead of need (1/16 of its size,
    /// 32 to 4096 chunks), so that commits overwrite allocated blocks and their fdatasync need not
    /// also commit a size change and a block allocation to the file system's journal — on ext4
    /// that halves the cost of a sync. One chunk per write, for the reason `writeChunks` gives.
    private func extendAhead() throws(StoreError) {
        let step = min(4096, max(32, fileChunks / 16))
        let target = max(highestAllocated + 1, fileChunks + step)
        let zeros = [UInt8](repeating: 0, count: chunkSize)
        for chunk in fileChunks..<target {
            try file.write(zeros, at: Int64(chunk) * Int64(chunkSize))
        }
        fileChunks = target
    }
}
