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
