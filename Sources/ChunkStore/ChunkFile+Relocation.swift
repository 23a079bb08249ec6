import StoreCore

/// Compaction of the chunk file: live chunks past the point where they would all fit are copied
/// to free chunks near the front — only their table entries change, so the tree above them is not
/// touched — and the emptied tail is cut off.
extension ChunkFile {
    public struct RelocationReport: Sendable, Equatable {
        public var chunksBefore: Int
        public var chunksAfter: Int
        /// Data chunks copied toward the front.
        public var movedChunks: Int
    }

    /// Moves chunks toward the front and truncates the file. Two durable commits: the move (the
    /// previous meta still names the old places, so a crash in between loses nothing), then a
    /// meta with the smaller chunk count, after which the tail is cut.
    ///
    /// Readers are not waited for: the move writes only to free chunks (which no pinned snapshot
    /// can reach), and the file is cut only past every chunk the newest commit uses *and* every
    /// released chunk a pinned snapshot may still read. With an old snapshot pinned, the file
    /// shrinks less; the next compaction finishes the job.
    public func relocate() throws(StoreError) -> RelocationReport {
        precondition(!inTransaction)
        try sync()  // chunks released by earlier commits become free (readers permitting)
        let before = Int(meta.chunkCount)
        // Chunks still pending count as used: a reader may need them where they are.
        let used = before - 2 - freeChunks.count
        // Room for every live chunk plus a new copy of every table chunk.
        let target = UInt64(2 + used + tableChunkCount + levels.count + 1)
        var moved = 0
        if target < meta.chunkCount {
            try begin()
            relocationLimit = target
            forceRewrite = true
            defer { relocationLimit = .max }
            for virtual in 1..<levels[0].count {
                let reference = ChunkReference(packed: levels[0][virtual])
                guard reference.isMapped, UInt64(reference.physical) >= target else { continue }
                do {
                    _ = try modify(UInt32(virtual))
                } catch {
                    rollback()
                    throw error
                }
                moved += 1
            }
            try commit(forceSync: true)
        }
        reclaim()  // the move's old copies, unless a pinned reader can still see them
        let newCount = max(highestUsedPhysical(), UInt64(freeChunks.highestPending)) + 1
        if newCount < meta.chunkCount {
            try begin()
            transactionMeta.chunkCount = newCount
            highestAllocated = newCount - 1
            try commit(forceSync: true)
            mapping?.fileCut(to: newCount)  // before the cut: no reader maps a page past the end
            do {
                // A journal store checkpoints first, so no journaled commit writes past the cut,
                // and gives back the journal's space too (its generation is empty now).
                try checkpoint(durable: true)
                try journal?.truncate()
                try file.truncate(to: Int64(newCount) * Int64(chunkSize))
                try file.sync()
            } catch {
                fail(error)
                throw error
            }
            freeChunks.removeAll(atOrAbove: newCount)
            fileChunks = newCount
        }
        return RelocationReport(chunksBefore: before, chunksAfter: Int(meta.chunkCount), movedChunks: moved)
    }

    private func highestUsedPhysical() -> UInt64 {
        var highest: UInt64 = 1
        for level in levels {
            for packed in level where packed != 0 {
                highest = max(highest, UInt64(ChunkReference(packed: packed).physical))
            }
        }
        if meta.tableRoot.isMapped { highest = max(highest, UInt64(meta.tableRoot.physical)) }
        return highest
    }
}
