import StoreCore

/// One commit's translation table as read from the chunk file: every level's entries and which
/// physical chunks the commit reaches. Reading it checks every table chunk's CRC against the
/// entry (or meta) that names it, and that no physical chunk is named twice or past the end.
struct TableImage {
    /// `levels[k][i]`: packed entry *i* of level *k* (level 0 maps virtual ids to data chunks).
    var levels: [[UInt64]]
    /// `used[p]`: physical chunk *p* belongs to the commit (metas, table and data chunks).
    var used: [Bool]
    /// Table chunks read (the cost of the open's table walk).
    var tableChunksRead = 0

    /// Reads the table `meta` names from `file`, top-down.
    init(file: DurableFile, meta: ChunkMeta) throws(StoreError) {
        let chunkSize = meta.chunkSize
        let perChunk = ChunkGeometry.entriesPerChunk(chunkSize)
        var counts = [Int(meta.virtualCount)]
        while counts.count < Int(meta.tableDepth) {
            counts.append((counts.last! + perChunk - 1) / perChunk)
        }
        guard counts.last! <= perChunk, meta.virtualCount >= 1 else {
            throw .corrupted(file: file.path, offset: Int64(meta.txid % 2) * Int64(chunkSize),
                             reason: "meta's table depth \(meta.tableDepth) cannot hold \(meta.virtualCount) virtual chunks")
        }
        levels = counts.map { [UInt64](repeating: 0, count: $0) }
        let chunkCount = meta.chunkCount
        used = [Bool](repeating: false, count: Int(chunkCount))
        used[0] = true
        used[1] = true
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { scratch.deallocate() }
        // A chunk of level k holds the entries of level k (references to level k-1's chunks, or
        // to data chunks at level 0).
        var chunkRefs: [(level: Int, index: Int, reference: ChunkReference)] = []
        if meta.tableRoot.isMapped {
            chunkRefs.append((levels.count - 1, 0, meta.tableRoot))
        }
        while let (level, index, reference) = chunkRefs.popLast() {
            try claim(reference, file: file, chunkSize: chunkSize, what: "table level \(level) chunk \(index)")
            try Self.readVerified(reference, from: file, chunkSize: chunkSize, into: scratch,
                                  what: "translation table level \(level) chunk \(index)")
            tableChunksRead += 1
            let first = index * perChunk
            let end = min(first + perChunk, levels[level].count)
            for slot in first..<end {
                let packed = UInt64(littleEndian: scratch.loadUnaligned(fromByteOffset: (slot - first) * 8, as: UInt64.self))
                levels[level][slot] = packed
                let entry = ChunkReference(packed: packed)
                guard entry.isMapped else { continue }
                if level > 0 {
                    chunkRefs.append((level - 1, slot, entry))
                } else {
                    try claim(entry, file: file, chunkSize: chunkSize, what: "virtual chunk \(slot)")
                }
            }
        }
    }

    private mutating func claim(_ reference: ChunkReference, file: DurableFile, chunkSize: Int, what: String) throws(StoreError) {
        guard reference.physical < used.count, !used[Int(reference.physical)] else {
            throw .corrupted(file: file.path, offset: Int64(reference.physical) * Int64(chunkSize),
                             reason: "\(what) points at physical chunk \(reference.physical), which is past the end (\(used.count)) or used twice")
        }
        used[Int(reference.physical)] = true
    }

    /// Reads the chunk `reference` names into `buffer`, checking its CRC32C.
    static func readVerified(
        _ reference: ChunkReference, from file: DurableFile, chunkSize: Int, into buffer: UnsafeMutableRawPointer,
        what: @autoclosure () -> String
    ) throws(StoreError) {
        let offset = Int64(reference.physical) * Int64(chunkSize)
        try file.readExactly(into: UnsafeMutableRawBufferPointer(start: buffer, count: chunkSize), at: offset)
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(start: buffer, count: chunkSize))
        guard actual == reference.checksum else {
            throw .corrupted(file: file.path, offset: offset,
                             reason: "checksum mismatch in \(what()) (physical chunk \(reference.physical))")
        }
    }
}
