import StoreCore

/// Which commit an open starts from: the two meta slots, and the check of a commit that was made
/// durable by one sync.
extension ChunkFile {
    /// Reads both meta slots and returns the valid one with the highest txid. Slot 1 sits one
    /// chunk in, and the chunk size is in the meta, so when slot 0 is unreadable every legal
    /// chunk size is tried for slot 1 (a meta only counts where its own chunk size puts it).
    static func readCurrentMeta(_ file: DurableFile) throws(StoreError) -> ChunkMeta {
        try readMetas(file).newest
    }

    /// Both slots: the valid meta with the highest txid, and the other slot's meta if it is valid.
    static func readMetas(_ file: DurableFile) throws(StoreError) -> (newest: ChunkMeta, other: ChunkMeta?) {
        var candidates: [ChunkMeta] = []
        var problems: [String] = []
        var buffer = [UInt8](repeating: 0, count: ChunkMeta.encodedSize)
        func decode(at offset: Int) throws(StoreError) -> ChunkMeta.Decoded {
            buffer = try file.read(count: ChunkMeta.encodedSize, at: Int64(offset))
            return buffer.withUnsafeBytes { ChunkMeta.decode($0) }
        }
        switch try decode(at: 0) {
        case let .valid(meta): candidates.append(meta)
        case .empty: problems.append("slot 0 at offset 0 is empty")
        case let .invalid(reason): problems.append("slot 0 at offset 0: \(reason)")
        }
        var sizes = candidates.map(\.chunkSize)
        if sizes.isEmpty {
            var size = ChunkGeometry.minimumChunkSize
            while size <= ChunkGeometry.maximumChunkSize {
                sizes.append(size)
                size <<= 1
            }
        }
        for size in sizes {
            switch try decode(at: size) {
            case let .valid(meta) where meta.chunkSize == size: candidates.append(meta)
            case let .invalid(reason) where candidates.count == 1: problems.append("slot 1 at offset \(size): \(reason)")
            default: break
            }
        }
        guard let best = candidates.max(by: { $0.txid < $1.txid }) else {
            throw .corrupted(file: file.path, offset: 0, reason: "no valid meta chunk (\(problems.joined(separator: "; ")))")
        }
        let other = candidates.count == 2 ? candidates.first { $0.txid != best.txid } : nil
        return (best, other)
    }

    /// The meta a shadow store opens at, and the commit it discards (if any).
    ///
    /// A commit with the single-sync flag wrote its chunks and its meta and then synced once,
    /// after the commit before it was durable. Until that sync returns, the disk may hold its meta
    /// without some of its chunks — the commit was never acknowledged then. So when the newest
    /// meta is such a commit and the other slot holds the commit just before it, every chunk the
    /// newest one wrote (its table chunks, and each data chunk whose entry differs from the
    /// predecessor's) is read and checked against its CRC; if any fails, the open falls back to
    /// the predecessor, whose chunks no later commit may overwrite. A predecessor that is not in
    /// the other slot means the slot was being rewritten by a later commit: the newest meta was
    /// then durable before it, and is taken as it is.
    /// - Returns: also the opened meta's table when the check read it, so the open need not read
    ///   it again.
    static func openableMeta(_ file: DurableFile) throws(StoreError) -> (meta: ChunkMeta, discarded: ChunkMeta?, table: TableImage?) {
        let (newest, other) = try readMetas(file)
        guard newest.singleSync, newest.commitMode == .shadow, let previous = other,
              previous.txid + 1 == newest.txid, previous.chunkSize == newest.chunkSize
        else { return (newest, nil, nil) }
        // The predecessor was durable before its successor wrote anything. If its table does
        // not read back, nothing can be compared: the newest meta is opened as it is, and any
        // damage shows there.
        guard let before = try? TableImage(file: file, meta: previous) else { return (newest, nil, nil) }
        if let after = try intactTable(of: newest, since: before.levels[0], file: file) {
            return (newest, nil, after)
        }
        return (previous, newest, before)
    }

    /// `meta`'s table if every chunk its commit wrote reads back with its CRC — its table chunks
    /// and the data chunks whose entries differ from `previous` — else nil.
    private static func intactTable(of meta: ChunkMeta, since previous: [UInt64], file: DurableFile) throws(StoreError) -> TableImage? {
        do {
            let after = try TableImage(file: file, meta: meta)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: meta.chunkSize, alignment: 64)
            defer { scratch.deallocate() }
            for (virtual, packed) in after.levels[0].enumerated() where packed != 0 {
                if virtual < previous.count && previous[virtual] == packed { continue }
                try TableImage.readVerified(ChunkReference(packed: packed), from: file, chunkSize: meta.chunkSize,
                                            into: scratch, what: "virtual chunk \(virtual)")
            }
            return after
        } catch {
            // A torn or missing chunk of the unacknowledged commit; any other error is the open's.
            if case .corrupted = error { return nil }
            throw error
        }
    }
}
