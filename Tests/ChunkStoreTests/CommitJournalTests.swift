import ChunkStore
import FaultInjection
import Foundation
import StoreCore
import StoreTestSupport
import Testing

/// `commit=journal` stores: the journal (`journal.cow`) read back with the layout FORMAT.md
/// gives, independently of the engine's own reader.
private let journalSettings = ["commit": "journal", "chunk_size": "512"]
private let firstTransaction = 1024

private func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

private func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

private func le64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
}

private func le32(_ bytes: [UInt8], _ offset: Int) -> Int {
    (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
}

/// A transaction as FORMAT.md lays it out: header 40, records 8 per chunk, meta 80, images,
/// marker 40.
private struct JournalTransaction {
    var offset: Int
    var generation: UInt64
    var txid: UInt64
    var count: Int
    var length: Int
    var end: Int { offset + length }

    /// The chunk-file writes a replay makes, in order: (file offset, bytes).
    func replayWrites(_ journal: [UInt8], chunkSize: Int) -> [(at: Int, bytes: [UInt8])] {
        var result: [(at: Int, bytes: [UInt8])] = []
        let records = offset + 40
        let images = records + count * 8 + 80
        for index in 0..<count {
            let physical = le32(journal, records + index * 8)
            let start = images + index * chunkSize
            result.append((physical * chunkSize, Array(journal[start..<(start + chunkSize)])))
        }
        let meta = records + count * 8
        result.append((Int(txid % 2) * chunkSize, Array(journal[meta..<(meta + 80)])))
        return result
    }
}

/// The transactions of the newest header's generation from the first offset on, as long as
/// they follow one another (their checksums are not checked here).
private func journalTransactions(_ bytes: [UInt8], chunkSize: Int) -> [JournalTransaction] {
    var result: [JournalTransaction] = []
    var offset = firstTransaction
    let generation = max(le64(bytes, 16), le64(bytes, 512 + 16))
    while offset + 40 <= bytes.count, bytes[offset..<(offset + 8)].elementsEqual(Array("SBCOWJTX".utf8)),
          le64(bytes, offset + 8) == generation {
        let count = le32(bytes, offset + 24)
        let length = 40 + count * (8 + chunkSize) + 80 + 40
        guard offset + length <= bytes.count else { break }
        result.append(JournalTransaction(offset: offset, generation: le64(bytes, offset + 8), txid: le64(bytes, offset + 16),
                                         count: count, length: length))
        offset += length
    }
    return result
}

/// A journal store whose last two commits (A: `a`=1, `b` updated; B: `c`=3, `b` updated again)
/// are in the journal but not in the chunk file — what stable storage holds after a power loss
/// just after B's journal sync: the chunk file as of the last checkpoint (the previous close),
/// the journal as synced. Built by copying the journal after B and putting back the chunk file
/// from before A.
private struct JournalOnlyCommits {
    let scratch: ScratchDirectory
    let path: String
    let chunkFile: [UInt8]
    let journal: [UInt8]
    let a: JournalTransaction
    let b: JournalTransaction

    init(_ label: String) throws {
        scratch = try ScratchDirectory(label)
        path = scratch.child("store")
        var store = try openCow(path, durability: .always, journalSettings)
        for index in 0..<40 { try store.put(bytes("key\(index)"), bytes("value \(index)")) }
        try store.put(bytes("b"), bytes("old"))
        try store.close()
        let before = try readFile(path + "/" + ChunkFile.fileName)
        store = try openCow(path, durability: .always, journalSettings)
        var batchA = WriteBatch()
        batchA.put(bytes("a"), bytes("1"))
        batchA.put(bytes("b"), bytes("from A"))
        try store.apply(batchA)
        var batchB = WriteBatch()
        batchB.put(bytes("c"), bytes("3"))
        batchB.put(bytes("b"), bytes("from B"))
        try store.apply(batchB)
        journal = try readFile(path + "/journal.cow")
        try store.close()
        chunkFile = before
        let found = journalTransactions(journal, chunkSize: 512)
        guard found.count == 2 else { throw StoreError.invalidArgument("expected 2 journal transactions, found \(found.count)") }
        a = found[0]
        b = found[1]
        try restore()
    }

    func restore(journal replacement: [UInt8]? = nil, chunkFile chunks: [UInt8]? = nil) throws {
        try writeFile(path + "/" + ChunkFile.fileName, chunks ?? chunkFile)
        try writeFile(path + "/journal.cow", replacement ?? journal)
    }

    /// Which of A and B the store at `path` shows (checking every key), after verifying it.
    func state() throws -> String {
        let store = try openCow(path, durability: .always)
        defer { try? store.close() }
        _ = try store.verifyStructure()
        for index in 0..<40 { #expect(try store.get(bytes("key\(index)")) == bytes("value \(index)")) }
        let a = try store.get(bytes("a")), b = try store.get(bytes("b")), c = try store.get(bytes("c"))
        switch (a, b, c) {
        case (nil, bytes("old"), nil): return "before A"
        case (bytes("1"), bytes("from A"), nil): return "A"
        case (bytes("1"), bytes("from B"), bytes("3")): return "B"
        default: return "mixed: a=\(String(describing: a)) b=\(String(describing: b)) c=\(String(describing: c))"
        }
    }
}

@Suite("cow commit journal")
struct CommitJournalTests {
    @Test("commit=journal: puts, deletes and batches survive reopening; the mode is recorded and reported")
    func roundTrip() throws {
        let scratch = try ScratchDirectory("cow-journal-roundtrip")
        let path = scratch.child("store")
        var store = try openCow(path, durability: .always, ["commit": "journal"])
        #expect(store.chunkFile.commitMode == .journal)
        #expect(store.effectiveSettings["commit"] == "journal")
        var model: [[UInt8]: [UInt8]] = [:]
        for index in 0..<300 {
            let key = bytes("key\(index % 170)")
            if index % 7 == 3 {
                try store.delete(key)
                model[key] = nil
            } else {
                let value = bytes(String(repeating: "v\(index)", count: 1 + index % 40))
                try store.put(key, value)
                model[key] = value
            }
        }
        var batch = WriteBatch()
        for index in 0..<50 {
            batch.put(bytes("batch\(index)"), bytes("\(index)"))
            model[bytes("batch\(index)")] = bytes("\(index)")
        }
        try store.apply(batch)
        // One journal fdatasync per commit, besides the open's checkpoint (the only one: none
        // is due in so few bytes).
        #expect(store.chunkFile.journalCheckpoints == 1)
        #expect(store.chunkFile.journalSyncs == store.chunkFile.commits + 1)
        #expect(try allEntries(store) == model)
        try store.close()
        #expect(FileManager.default.fileExists(atPath: path + "/journal.cow"))
        // A clean close checkpoints: the new generation holds no transaction.
        #expect(journalTransactions(try readFile(path + "/journal.cow"), chunkSize: 4096).isEmpty)
        // Reopened without the setting: the store's own mode.
        store = try openCow(path, durability: .none)
        #expect(store.chunkFile.commitMode == .journal)
        #expect(store.effectiveSettings["commit"] == "journal")
        #expect(try allEntries(store) == model)
        _ = try store.verifyStructure()
        try store.put(bytes("later"), bytes("x"))
        try store.close()
        store = try openCow(path, durability: .always, ["commit": "journal"])
        #expect(try store.get(bytes("later")) == bytes("x"))
        try store.close()
    }

    @Test("the journal checkpoints once it passes its size: many commits, every one still there")
    func checkpoints() throws {
        let scratch = try ScratchDirectory("cow-journal-checkpoint")
        let path = scratch.child("store")
        var store = try openCow(path, durability: .always, ["commit": "journal"])
        let value = [UInt8](repeating: 7, count: 3000)
        for index in 0..<1200 { try store.put(bytes("key\(index)"), value + bytes("\(index)")) }
        // Each commit journals at least a leaf and a table chunk: 1,200 × 8 KiB is past 8 MiB.
        #expect(store.chunkFile.journalCheckpoints >= 2)  // the open's, and at least one more
        #expect(store.chunkFile.journalSyncs >= store.chunkFile.commits)
        try store.close()
        store = try openCow(path, durability: .always)
        for index in stride(from: 0, to: 1200, by: 37) {
            #expect(try store.get(bytes("key\(index)")) == value + bytes("\(index)"))
        }
        _ = try store.verifyStructure()
        try store.close()
    }

    @Test("opening under the other commit mode fails naming both; an unknown mode lists the allowed ones")
    func mismatchedMode() throws {
        let scratch = try ScratchDirectory("cow-journal-mismatch")
        for (created, opened) in [("shadow", "journal"), ("journal", "shadow")] {
            let path = scratch.child(created)
            let store = try openCow(path, durability: .none, ["commit": created])
            try store.put(bytes("k"), bytes("v"))
            try store.close()
            do {
                let wrong = try openCow(path, durability: .none, ["commit": opened])
                try? wrong.close()
                Issue.record("a \(created) store opened with commit=\(opened)")
            } catch let StoreError.invalidArgument(message) {
                #expect(message.contains("store was created with commit=\(created); opened with commit=\(opened)"), "\(message)")
            }
            let reopened = try openCow(path, durability: .none)
            #expect(try reopened.get(bytes("k")) == bytes("v"))
            #expect(reopened.effectiveSettings["commit"] == created)
            try reopened.close()
        }
        do {
            _ = try openCow(scratch.child("unknown"), durability: .none, ["commit": "wal"])
            Issue.record("commit=wal accepted")
        } catch let StoreError.invalidArgument(message) {
            #expect(message.contains("shadow") && message.contains("journal") && message.contains("wal"), "\(message)")
        }
    }

    @Test("committed transactions only in the journal are replayed on open")
    func replay() throws {
        let state = try JournalOnlyCommits("cow-journal-replay")
        // The chunk file alone is at the commit before A.
        #expect(state.b.txid == state.a.txid + 1)
        #expect(try state.state() == "B")
        // Replayed and checkpointed: opening again changes nothing.
        #expect(try state.state() == "B")
    }

    @Test("a torn last transaction, whatever prefix reached the disk, opens at the commit before it")
    func tornTransaction() throws {
        let state = try JournalOnlyCommits("cow-journal-torn")
        for prefix in 0...state.b.length {
            var torn = state.journal
            // What the file held there before B was appended: zeros (it was grown ahead).
            for index in (state.b.offset + prefix)..<state.b.end { torn[index] = 0 }
            try state.restore(journal: torn)
            let expected = prefix == state.b.length ? "B" : "A"
            #expect(try state.state() == expected, "prefix \(prefix) of \(state.b.length)")
        }
    }

    @Test("a replay interrupted after any of its writes, even mid-write, is replayed again on the next open")
    func interruptedReplay() throws {
        let state = try JournalOnlyCommits("cow-journal-interrupted")
        let writes = state.a.replayWrites(state.journal, chunkSize: 512) + state.b.replayWrites(state.journal, chunkSize: 512)
        for done in 0..<writes.count {
            for torn in [false, true] {
                var chunks = state.chunkFile
                let count = done + (torn ? 1 : 0)
                for (position, write) in writes.prefix(count).enumerated() {
                    let bytes = torn && position == count - 1 ? Array(write.bytes.prefix(write.bytes.count / 2)) : write.bytes
                    if chunks.count < write.at + bytes.count { chunks += [UInt8](repeating: 0, count: write.at + bytes.count - chunks.count) }
                    chunks.replaceSubrange(write.at..<(write.at + bytes.count), with: bytes)
                }
                try state.restore(chunkFile: chunks)
                #expect(try state.state() == "B", "after \(done) writes\(torn ? " and half of the next" : "")")
            }
        }
    }

    @Test("a replay cut short by a crash at any mutating call is finished by the next open")
    func crashDuringReplay() throws {
        let state = try JournalOnlyCommits("cow-journal-replay-crash")
        let counter = CrashingFileSystem()
        let counted = try ChunkStore(directory: state.path, options: StoreOptions(durability: .always, fileSystem: counter))
        try counted.close()
        let calls = counter.mutatingCalls
        #expect(calls > 8)  // replay writes, the chunk-file sync, the journal reset, the close
        for crashAfter in 0..<calls {
            try state.restore()
            let crashing = CrashingFileSystem()
            crashing.arm(crashAfter: crashAfter)
            if let store = try? ChunkStore(directory: state.path, options: StoreOptions(durability: .always, fileSystem: crashing)) {
                try? store.close()
            }
            #expect(try state.state() == "B", "crash after \(crashAfter) of \(calls) mutating calls")
        }
    }

    @Test("a power loss right after a commit's journal sync loses nothing: the journal restores the chunks")
    func powerLossAfterJournalSync() throws {
        let scratch = try ScratchDirectory("cow-journal-power")
        let path = scratch.child("store")
        let store = try openCow(path, durability: .always, journalSettings)
        try store.put(bytes("first"), bytes("1"))
        try store.close()
        let power = try PowerLossFileSystem(directory: path)
        let running = try ChunkStore(directory: path, options: StoreOptions(durability: .always, fileSystem: power))
        for index in 0..<30 { try running.put(bytes("key\(index)"), bytes("value \(index)")) }
        try power.powerLoss()
        try? running.close()
        let reopened = try openCow(path, durability: .always)
        defer { try? reopened.close() }
        _ = try reopened.verifyStructure()
        #expect(try reopened.get(bytes("first")) == bytes("1"))
        for index in 0..<30 { #expect(try reopened.get(bytes("key\(index)")) == bytes("value \(index)")) }
    }

    @Test("stale transactions are never replayed: another generation's, or an older txid of this one")
    func staleTransactions() throws {
        let state = try JournalOnlyCommits("cow-journal-stale")
        let aBytes = Array(state.journal[state.a.offset..<state.a.end])
        // A complete A of the current generation planted after B: txid A where B + 1 is due.
        var planted = state.journal
        planted.replaceSubrange(state.b.end..<(state.b.end + aBytes.count), with: aBytes)
        try state.restore(journal: planted)
        #expect(try state.state() == "B", "A replayed again over B")
        // Only A in the journal, but the header moved on a generation (as a checkpoint leaves
        // it, with the same base): A, complete and with the txid that is due, is stale now.
        var nextGeneration = state.journal
        for index in state.a.end..<state.b.end { nextGeneration[index] = 0 }
        let slot = le64(nextGeneration, 16) > le64(nextGeneration, 512 + 16) ? 0 : 512
        let header = try Self.header(generation: le64(nextGeneration, slot + 16) + 1, base: le64(nextGeneration, slot + 24),
                                     from: Array(nextGeneration[slot..<(slot + 40)]))
        nextGeneration.replaceSubrange((512 - slot)..<(512 - slot + 40), with: header)
        try state.restore(journal: nextGeneration)
        #expect(try state.state() == "before A")
    }

    /// A journal header slot (FORMAT.md) like `template` with another generation and base.
    static func header(generation: UInt64, base: UInt64, from template: [UInt8]) throws -> [UInt8] {
        var header = template
        for index in 0..<8 {
            header[16 + index] = UInt8(truncatingIfNeeded: generation >> (8 * index))
            header[24 + index] = UInt8(truncatingIfNeeded: base >> (8 * index))
        }
        let crc = header.withUnsafeBytes { CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<36]))) }
        for index in 0..<4 { header[36 + index] = UInt8(truncatingIfNeeded: crc >> (8 * index)) }
        return header
    }

    @Test("a flipped byte anywhere in the journal is reported with the journal and an offset, or harmless")
    func flippedBytes() throws {
        let state = try JournalOnlyCommits("cow-journal-flip")
        let journalFile = state.path + "/journal.cow"
        var offsets = Array(0..<48) + Array(512..<560)
        offsets += Array(stride(from: firstTransaction, to: state.b.end, by: 3))
        offsets += [state.a.end - 1, state.b.end - 1, state.b.end]
        var detected = 0
        for offset in offsets {
            var flipped = state.journal
            flipped[offset] ^= 0x20
            try state.restore(journal: flipped)
            let outcome: String
            do {
                outcome = try state.state()
            } catch let StoreError.corrupted(file, reportedOffset, reason) {
                #expect(file == journalFile, "byte \(offset): \(reason)")
                #expect(reportedOffset >= 0 && reportedOffset < Int64(state.journal.count), "byte \(offset)")
                detected += 1
                continue
            }
            // Not detected: harmless. Only B's own bytes may look like a torn tail (B, never
            // acknowledged, is lost as after a torn write); anywhere else every commit is there.
            if (state.b.offset..<state.b.end).contains(offset) {
                #expect(outcome == "A" || outcome == "B", "byte \(offset): \(outcome)")
            } else {
                #expect(outcome == "B", "byte \(offset): \(outcome)")
            }
        }
        // Every byte of A is covered: a flip there is damage before a complete B.
        #expect(detected >= (state.a.length / 3))
    }
}
