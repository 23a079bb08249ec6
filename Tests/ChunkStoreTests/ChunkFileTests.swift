import ChunkStore
import StoreCore
import StoreTestSupport
import Testing

/// The chunk layer on its own, without the tree.
@Suite("cow chunk layer")
struct ChunkFileTests {
    func open(_ scratch: ScratchDirectory, chunkSize: Int = 512, sync: Bool = true) throws -> ChunkFile {
        let directory = StorageDirectory(path: scratch.path, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
        return try ChunkFile(directory: directory, requestedChunkSize: chunkSize, cacheBytes: 1 << 20, syncOnCommit: sync)
    }

    func fill(_ bytes: UnsafeMutableRawPointer, _ value: UInt8, _ count: Int) {
        bytes.initializeMemory(as: UInt8.self, repeating: value, count: count)
    }

    @Test("a transaction commits all its chunks or none; rollback forgets reservations")
    func atomicTransactions() throws {
        let scratch = try ScratchDirectory("chunks-atomic")
        var chunks = try open(scratch)
        try chunks.begin()
        var ids: [UInt32] = []
        for value in 1...3 {
            let (virtual, bytes) = chunks.reserve()
            fill(bytes, UInt8(value), 512)
            ids.append(virtual)
        }
        chunks.root = ids[0]
        try chunks.commit()
        let committed = chunks.meta.txid
        try chunks.begin()
        fill(try chunks.modify(ids[1]), 9, 512)
        _ = chunks.reserve()
        chunks.rollback()
        #expect(chunks.meta.txid == committed)
        #expect(chunks.mappedVirtualCount == 3)
        #expect(try chunks.read(ids[1]).load(as: UInt8.self) == 2, "rolled-back change not visible")
        chunks.close()
        chunks = try open(scratch)
        #expect(chunks.root == ids[0])
        for (index, id) in ids.enumerated() {
            #expect(try chunks.read(id).load(fromByteOffset: 511, as: UInt8.self) == UInt8(index + 1))
        }
    }

    @Test("only chunks whose bytes changed are written")
    func unchangedChunksAreSkipped() throws {
        let scratch = try ScratchDirectory("chunks-unchanged")
        let chunks = try open(scratch)
        try chunks.begin()
        let (a, bytesA) = chunks.reserve()
        let (b, bytesB) = chunks.reserve()
        fill(bytesA, 1, 512)
        fill(bytesB, 2, 512)
        try chunks.commit()
        let written = chunks.chunksWritten
        try chunks.begin()
        fill(try chunks.modify(a), 1, 512)  // same bytes
        fill(try chunks.modify(b), 3, 512)
        try chunks.commit()
        // b and the one table chunk that maps it; a is skipped.
        #expect(chunks.chunksWritten - written == 2)
        #expect(chunks.chunksSkippedUnchanged == 1)
        try chunks.begin()
        fill(try chunks.modify(a), 1, 512)
        #expect(try chunks.commit() == false, "a transaction that changes no bytes writes nothing")
    }

    @Test("released chunks are reused once a later commit is durable, never while the previous meta needs them")
    func reuseWaitsForDurability() throws {
        let scratch = try ScratchDirectory("chunks-reuse")
        let chunks = try open(scratch, sync: false)
        try chunks.begin()
        let (a, bytes) = chunks.reserve()
        fill(bytes, 1, 512)
        try chunks.commit()
        let physicalBefore = try chunks.fileOffset(of: a)
        for value in 2...5 {
            try chunks.begin()
            fill(try chunks.modify(a), UInt8(value), 512)
            try chunks.commit()
            #expect(try chunks.fileOffset(of: a) != physicalBefore, "not synced yet: the old copy is not overwritten")
        }
        let grown = chunks.chunkCount
        try chunks.sync()
        for value in 6...20 {
            try chunks.begin()
            fill(try chunks.modify(a), UInt8(value), 512)
            try chunks.commit()
            try chunks.sync()
        }
        #expect(chunks.chunkCount == grown, "after syncs, rewrites reuse released chunks instead of growing the file")
    }

    @Test("the translation table grows to several levels and survives reopen")
    func deepTable() throws {
        let scratch = try ScratchDirectory("chunks-deep")
        var chunks = try open(scratch)  // 64 entries per 512-byte table chunk
        var ids: [UInt32] = []
        for round in 0..<10 {
            try chunks.begin()
            for _ in 0..<500 {
                let (virtual, bytes) = chunks.reserve()
                bytes.storeBytes(of: virtual, as: UInt32.self)
                ids.append(virtual)
            }
            try chunks.commit()
            #expect(chunks.meta.tableDepth >= (round == 9 ? 3 : 1))
        }
        #expect(chunks.meta.tableDepth == 3, "5000 chunks need 64 × 64 < 5000 → three levels")
        chunks.close()
        chunks = try open(scratch)
        #expect(chunks.tableChunksReadOnOpen == chunks.tableChunkCount)
        for id in ids { #expect(try chunks.read(id).load(as: UInt32.self) == id) }
        _ = try chunks.verifyTable()
    }
}
