import ChunkStore
import Foundation
import StoreCore
import StoreTestSupport
import Testing

@Suite("cow crash and corruption")
struct ChunkCrashTests {
    /// Commit A, then commit B; B's meta write is torn after every possible prefix (the rest
    /// of the slot keeps what it held before). Every torn version opens at commit A; only the
    /// complete meta opens at B.
    @Test("a torn meta write, whatever prefix reached the disk, opens at the previous commit")
    func tornMetaFallsBack() throws {
        let scratch = try ScratchDirectory("cow-torn-meta")
        let path = scratch.child("store")
        let file = path + "/" + ChunkFile.fileName
        var store = try openCow(path, durability: .always)
        try store.put(bytes("a"), bytes("first"))
        try store.put(bytes("b"), bytes("second"))
        let slotOfB = Int(store.chunkFile.meta.txid + 1) % 2
        let chunkSize = store.chunkFile.chunkSize
        try store.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        store = try openCow(path, durability: .always)
        try store.put(bytes("c"), bytes("third"))
        #expect(Int(store.chunkFile.meta.txid) % 2 == slotOfB)
        try store.close()
        let after = try Data(contentsOf: URL(fileURLWithPath: file))
        let slot = slotOfB * chunkSize
        for prefix in 0...chunkSize where prefix < 96 || prefix % 512 == 0 {
            var torn = after
            let keep = before.count >= slot + chunkSize ? before[(slot + prefix)..<(slot + chunkSize)] : Data(count: chunkSize - prefix)
            torn.replaceSubrange((slot + prefix)..<(slot + chunkSize), with: keep)
            try torn.write(to: URL(fileURLWithPath: file))
            let reopened = try openCow(path, durability: .always)
            let complete = prefix >= 80  // the meta's 80 bytes all written
            #expect(try reopened.get(bytes("c")) == (complete ? bytes("third") : nil), "prefix \(prefix)")
            #expect(try reopened.get(bytes("b")) == bytes("second"), "prefix \(prefix): the previous commit is intact")
            _ = try reopened.verifyStructure()
            try reopened.close()
        }
    }

    /// Under `always` a commit whose predecessor is durable makes its chunks and meta durable
    /// with one sync, so a power loss may keep its meta and lose (or tear) any chunk it wrote.
    /// For each chunk commit B wrote, the disk is given B's meta and every other chunk of B but
    /// that one chunk's old bytes (or its first sector only): the open must find it and fall
    /// back to commit A, intact. With all of B's chunks, B opens.
    @Test("a single-sync commit whose meta reached the disk without one of its chunks opens at the previous commit")
    func singleSyncCommitMissingAChunk() throws {
        let scratch = try ScratchDirectory("cow-single-sync")
        let path = scratch.child("store")
        let file = path + "/" + ChunkFile.fileName
        let store = try openCow(path, durability: .always)
        for index in 0..<300 { try store.put(bytes("key\(index)"), bytes(String(repeating: "v", count: 40) + "\(index)")) }
        let txidA = store.chunkFile.meta.txid
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        try store.put(bytes("key150"), bytes("changed by B"))
        let metaB = store.chunkFile.meta
        #expect(metaB.singleSync && metaB.txid == txidA + 1, "B was committed with one sync after a durable A")
        let chunkSize = store.chunkFile.chunkSize
        try store.close()
        let after = try Data(contentsOf: URL(fileURLWithPath: file))
        // Chunks B wrote, besides its meta slot (its table chunks and at least one leaf); a
        // chunk past A's end held zeros before (the file is grown ahead in zero-filled chunks).
        func old(_ range: Range<Int>) -> Data { range.upperBound <= before.count ? before[range] : Data(count: range.count) }
        let written = (2..<(after.count / chunkSize)).filter { chunk in
            let range = (chunk * chunkSize)..<((chunk + 1) * chunkSize)
            return old(range) != after[range]
        }
        #expect(written.count >= 2, "B wrote a data chunk and a table chunk: \(written)")
        for chunk in written {
            for keptBytes in [0, 512] {
                let range = (chunk * chunkSize)..<((chunk + 1) * chunkSize)
                var torn = after
                let previous = old(range)
                torn.replaceSubrange((range.lowerBound + keptBytes)..<range.upperBound, with: previous[(previous.startIndex + keptBytes)...])
                if torn == after { continue }  // B changed only the chunk's first sector
                try torn.write(to: URL(fileURLWithPath: file))
                let reopened = try openCow(path, durability: .always)
                #expect(reopened.chunkFile.discardedOnOpen == metaB.txid, "chunk \(chunk), \(keptBytes) bytes kept")
                #expect(reopened.chunkFile.meta.txid == txidA)
                #expect(try reopened.get(bytes("key150")) == bytes(String(repeating: "v", count: 40) + "150"))
                #expect(try allEntries(reopened).count == 300)
                _ = try reopened.verifyStructure()
                try reopened.close()
            }
        }
        try after.write(to: URL(fileURLWithPath: file))
        let whole = try openCow(path, durability: .always)
        defer { try? whole.close() }
        #expect(whole.chunkFile.discardedOnOpen == nil)
        #expect(try whole.get(bytes("key150")) == bytes("changed by B"))
    }

    /// The commit an open starts from may be in the page cache only (a killed process's last
    /// commit): the first durable commit after reopening syncs before its meta, later ones once.
    /// A new store's commit 0 was synced when the file was created.
    @Test("under always the first commit after a reopen takes two syncs, every other one a single sync")
    func syncsPerCommitAfterOpen() throws {
        let scratch = try ScratchDirectory("cow-syncs-after-open")
        let path = scratch.child("store")
        for round in 0..<2 {
            let store = try openCow(path, durability: .always)
            var syncs = store.metrics.snapshot().syncs
            for index in 0..<4 {
                try store.put(bytes("r\(round)-\(index)"), bytes("value"))
                let now = store.metrics.snapshot().syncs
                let first = index == 0 && round == 1
                #expect(now - syncs == (first ? 2 : 1), "round \(round), commit \(index)")
                #expect(store.chunkFile.meta.singleSync == !first)
                syncs = now
            }
            try store.close()
        }
    }

    @Test("a flipped byte in a leaf is reported as corruption with the file and the chunk's offset")
    func flippedLeafByte() throws {
        let scratch = try ScratchDirectory("cow-flip-leaf")
        let path = scratch.child("store")
        var store = try openCow(path)
        for index in 0..<50 { try store.put(bytes("key\(index)"), bytes("value \(index)")) }
        let leaf = store.chunkFile.root  // one leaf holds 50 small entries
        let offset = try store.chunkFile.fileOffset(of: leaf)
        try store.close()
        let file = path + "/" + ChunkFile.fileName
        var data = try Data(contentsOf: URL(fileURLWithPath: file))
        data[Int(offset) + 4000] ^= 0x10
        try data.write(to: URL(fileURLWithPath: file))
        store = try openCow(path)
        defer { try? store.close() }
        do {
            _ = try store.get(bytes("key7"))
            Issue.record("a read of the damaged leaf returned a value")
        } catch let error as StoreError {
            guard case let .corrupted(reportedFile, reportedOffset, reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(reportedFile == file)
            #expect(reportedOffset == offset)
            #expect(reason.contains("checksum"))
        }
        #expect(throws: StoreError.self) { try store.verifyStructure() }
    }

    @Test("a corrupt newest meta falls back to the other one; two corrupt metas are an error naming both")
    func damagedMetas() throws {
        let scratch = try ScratchDirectory("cow-metas")
        let path = scratch.child("store")
        var store = try openCow(path, durability: .always)
        try store.put(bytes("x"), bytes("1"))
        try store.put(bytes("y"), bytes("2"))
        let newest = Int(store.chunkFile.meta.txid % 2)
        try store.close()
        let file = path + "/" + ChunkFile.fileName
        var data = try Data(contentsOf: URL(fileURLWithPath: file))
        data[newest * 4096 + 20] ^= 1
        try data.write(to: URL(fileURLWithPath: file))
        store = try openCow(path)
        #expect(try store.get(bytes("y")) == nil)
        #expect(try store.get(bytes("x")) == bytes("1"))
        try store.close()
        data = try Data(contentsOf: URL(fileURLWithPath: file))
        data[(1 - newest) * 4096 + 20] ^= 1  // the newest is still damaged
        try data.write(to: URL(fileURLWithPath: file))
        do {
            _ = try openCow(path)
            Issue.record("opened with two damaged metas")
        } catch let error as StoreError {
            #expect(String(describing: error).contains("no valid meta"), "\(error)")
            #expect(String(describing: error).contains(file))
        }
    }
}
