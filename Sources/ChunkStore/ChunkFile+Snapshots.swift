import StoreCore

/// Snapshots for readers, and the reclamation of what older snapshots still use.
extension ChunkFile {
    // MARK: Readers (any thread)

    /// Pins the newest published snapshot: claims a reader slot holding its txid and the current
    /// cache epoch. Every chunk, page and record the view reaches stays as it is until `unpin`.
    @inline(__always)
    func pinSnapshot() -> SnapshotView {
        let txid = publishedTxid.load(ordering: .sequentiallyConsistent)
        let epoch = cache.epoch.load(ordering: .sequentiallyConsistent)
        let slot = readers.pin(txid: txid, cacheEpoch: epoch)
        // Loaded after the pin: this record (txid ≥ the pinned one) cannot be retired under us.
        let record = UnsafePointer<TableSnapshot>(bitPattern: published.load(ordering: .sequentiallyConsistent))!
        return SnapshotView(snapshot: record, slot: slot, chunks: self)
    }

    @inline(__always)
    func unpin(_ view: SnapshotView) {
        readers.unpin(view.slot)
    }

    // MARK: Writer section

    /// The writer starts working (it holds the owner's writer lock): pins its cache epoch, so
    /// chunks it reads stay valid while readers evict.
    public func beginWriting() {
        writerPinned = true
        readers.enterCache(ReaderTable.writerSlot, epoch: cache.epoch.load(ordering: .sequentiallyConsistent))
    }

    public func endWriting() {
        readers.leaveCache(ReaderTable.writerSlot)
        writerPinned = false
    }

    // MARK: Publishing (writer)

    /// Level-0 table chunks (pages) needed for `virtualCount` entries.
    func pageCount(_ virtualCount: Int) -> Int {
        (virtualCount + entriesPerChunk - 1) / entriesPerChunk
    }

    /// A frame holding level-0 table chunk `index` as the file stores it: the entries of
    /// `levels[0]`, 8 bytes little-endian each, zero past the last.
    func makePage(_ index: Int) -> UnsafeMutableRawPointer {
        let buffer = takeBuffer()
        storeTableChunk(levels[0], index, into: buffer)
        return buffer
    }

    /// Writes table chunk `index` of `level` into `buffer` as the file stores it: its entries,
    /// 8 bytes little-endian each, zero past the last. On a little-endian host the entries are
    /// already in that form: one copy (every commit builds two or more of these).
    func storeTableChunk(_ level: [UInt64], _ index: Int, into buffer: UnsafeMutableRawPointer) {
        let first = index * entriesPerChunk
        let end = min(first + entriesPerChunk, level.count)
        let bytes = max(0, end - first) * 8
        #if _endian(little)
        if bytes > 0 {
            level.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + first * 8, byteCount: bytes) }
        }
        #else
        for slot in first..<end {
            buffer.storeBytes(of: level[slot].littleEndian, toByteOffset: (slot - first) * 8, as: UInt64.self)
        }
        #endif
        (buffer + bytes).initializeMemory(as: UInt8.self, repeating: 0, count: chunkSize - bytes)
    }

    /// Makes `next` (just committed) what new readers see: a record sharing the previous one's
    /// pages except those in `newPages`. The previous record, its page array and the pages
    /// replaced are retired with `next.txid`.
    func publish(_ next: ChunkMeta) {
        let old = current.pointee
        let count = pageCount(Int(next.virtualCount))
        // A record no reader can see any more, with its page array, if there is one.
        let record = spareRecords.popLast() ?? {
            let fresh = UnsafeMutablePointer<TableSnapshot>.allocate(capacity: 1)
            fresh.initialize(to: TableSnapshot(meta: next, pages: .allocate(capacity: 1), pageCount: 0, pageCapacity: 1))
            return fresh
        }()
        if record.pointee.pageCapacity < count {
            record.pointee.pages.deallocate()
            record.pointee.pageCapacity = max(count, count + count / 2)
            record.pointee.pages = .allocate(capacity: record.pointee.pageCapacity)
        }
        let pages = record.pointee.pages
        let kept = min(count, old.pageCount)
        pages.update(from: old.pages, count: kept)
        for index in kept..<max(kept, count) { pages[index] = zeroPage }
        for new in newPages {
            let replaced = pages[new.index]
            if replaced != zeroPage { retired.append(RetiredMemory(kind: .page, pointer: replaced), releasedBy: next.txid) }
            pages[new.index] = new.page
        }
        newPages.removeAll(keepingCapacity: true)
        record.pointee.meta = next
        record.pointee.pageCount = count
        // Record first, then its txid: a reader that pins this txid then loads a record ≥ it.
        published.store(UInt(bitPattern: record), ordering: .sequentiallyConsistent)
        publishedTxid.store(next.txid, ordering: .sequentiallyConsistent)
        retired.append(RetiredMemory(kind: .snapshot, pointer: UnsafeMutableRawPointer(current)), releasedBy: next.txid)
        current = record
    }

    // MARK: Reclamation (writer)

    /// Frees what no pinned reader can reach any more: memory retired by commits ≤ the oldest
    /// pinned txid, and physical chunks released by commits ≤ both that txid and the newest
    /// durable commit (so the previous durable meta never names an overwritten chunk); and
    /// cache frames the writer displaced that no reader can hold. Called where the writer holds
    /// no chunk pointer (the start of a commit, `sync`).
    func reclaim() {
        // The writer holds no cache pointer here: it moves its own cache pin forward (advancing
        // the epoch if its newest displaced frame left at the current one), so that without
        // readers every displaced frame comes back at once.
        if let newest = displaced.last, newest.epoch >= cache.epoch.load(ordering: .sequentiallyConsistent) {
            cache.epoch.add(1, ordering: .sequentiallyConsistent)
        }
        if writerPinned {
            readers.enterCache(ReaderTable.writerSlot, epoch: cache.epoch.load(ordering: .sequentiallyConsistent))
        }
        let (oldest, oldestEpoch) = readers.oldest()
        reclaimFrames(before: oldestEpoch)
        while let entry = retired.next(through: oldest) { release(entry) }
        freeChunks.promote(upTo: min(oldest, durableTxid))
    }

    func release(_ entry: RetiredMemory) {
        switch entry.kind {
        case .page: returnBuffer(entry.pointer)
        case .snapshot:
            let record = entry.pointer.assumingMemoryBound(to: TableSnapshot.self)
            if spareRecords.count < 8 {
                spareRecords.append(record)
            } else {
                record.pointee.pages.deallocate()
                record.deallocate()
            }
        }
    }

    /// Memory and chunks waiting for readers: (retired memory items, released chunks not yet
    /// reusable). For tests.
    public var waitingForReaders: (memory: Int, chunks: Int) {
        (retired.count, freeChunks.pendingCount)
    }

    /// Readers pinned now. For tests.
    public var activeReaders: Int { readers.activeReaders() }

    // MARK: Frames (writer)

    /// `frame` left the cache (the writer took it out); readers that found it before may still
    /// read it.
    func retireFrame(_ frame: UnsafeMutableRawPointer) {
        // Read after the unlink: a reader that enters the cache at a later epoch cannot find it.
        displaced.append(RetiredFrame(frame: frame, epoch: cache.epoch.load(ordering: .sequentiallyConsistent)))
    }

    /// Moves the displaced frames that left the cache before `oldest` (the oldest epoch anyone is
    /// in) back to the pool.
    private func reclaimFrames(before oldest: UInt64) {
        guard !displaced.isEmpty else { return }
        var kept = 0
        for position in displaced.indices {
            let entry = displaced[position]
            if entry.epoch < oldest {
                returnBuffer(entry.frame)
            } else {
                displaced[kept] = entry
                kept += 1
            }
        }
        displaced.removeLast(displaced.count - kept)
    }

    func takeBuffer() -> UnsafeMutableRawPointer {
        if let buffer = pool.popLast() { return buffer }
        // Frames the cache evicted and no reader holds any more come back to the writer.
        if cache.takeSpares(into: &pool, wanted: 32) < 8 {
            for _ in 0..<8 { pool.append(ChunkFrame.allocate(chunkSize: chunkSize)) }
        }
        return pool.removeLast()
    }

    func returnBuffer(_ buffer: UnsafeMutableRawPointer) {
        // Mapped, written frames come back here rather than into the cache: keep enough for a
        // batch's ~1,000 working copies, so the next batch does not allocate them again.
        if pool.count < (mapping == nil ? 512 : 2048) { pool.append(buffer) } else { ChunkFrame.deallocate(buffer) }
    }

    // MARK: Failure

    /// Stops the chunk file until it is reopened: memory may be ahead of the file now.
    func fail(_ error: StoreError) {
        failureLock.withLock { failureState = failureState ?? error }
        failed.store(true, ordering: .releasing)
    }
}

/// The writer's source: the open transaction's working copies over the newest commit. Its cache
/// pin moves on at each miss (`load`), so the epoch calls have nothing to do.
extension ChunkFile: ChunkSource {
    var treeRoot: UInt32 { root }
    var virtualLimit: Int { levels[0].count }
    func enterCache() {}
    func leaveCache() {}
    func corrupt(_ virtual: UInt32, _ reason: String) -> StoreError {
        .corrupted(file: file.path, offset: -1, reason: "virtual chunk \(virtual): \(reason)")
    }
}
