import Foundation
@testable import LSMTree
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

func openLSM(_ path: String, durability: Durability = .none, _ settings: [String: String] = [:]) throws -> LSMStore {
    try LSMStore(directory: path, options: StoreOptions(durability: durability, settings: settings))
}

/// Copies the store directory while `store` is still open (its WAL as a crash would leave it),
/// then closes the store. Returns the copy and the path of its non-empty WAL.
func crashCopy(of path: String, closing store: LSMStore, to copy: String) throws -> (copy: String, log: String) {
    try FileManager.default.copyItem(atPath: path, toPath: copy)
    try store.close()
    try? FileManager.default.removeItem(atPath: copy + "/LOCK")
    let log = try #require(try FileManager.default.contentsOfDirectory(atPath: copy).first {
        $0.hasSuffix(".log") && (try? Data(contentsOf: URL(fileURLWithPath: copy + "/" + $0)).count) ?? 0 > 0
    })
    return (copy, copy + "/" + log)
}

func entries(_ store: any Store) throws -> [[UInt8]: [UInt8]] {
    var result: [[UInt8]: [UInt8]] = [:]
    try store.scan(from: [], limit: .max) { key, value in result[Array(key)] = Array(value) }
    return result
}

/// Small buffers and levels so a few thousand writes reach several levels.
let smallLSM = ["write_buffer_size": "32KiB", "level1_size": "128KiB", "target_file_size": "32KiB", "block_size": "1KiB"]

@Suite("lsm engine")
struct LSMTests {
    @Test("data spread over several levels plus unflushed WAL commits reads back after a crash-like reopen")
    func levelsAndWAL() throws {
        let scratch = try ScratchDirectory("lsm-levels")
        let path = scratch.child("store")
        let oracle = MemoryStore()
        var random = SeededRandom(seed: 11)
        do {
            let store = try openLSM(path, smallLSM)
            for step in 0..<20_000 {
                let key = bytes("key\(random.below(4000))")
                if step % 7 == 0 {
                    try store.delete(key)
                    try oracle.delete(key)
                } else {
                    let value = random.bytes(20 + random.below(80))
                    try store.put(key, value)
                    try oracle.put(key, value)
                }
            }
            try store.waitForMaintenance()
            let levels = store.levelSummary()
            #expect(levels.dropFirst().filter { $0.files > 0 }.count >= 2, "data reached two levels below L0: \(levels)")
            #expect(try entries(store) == (try entries(oracle)))
            // Unflushed commits: a few more writes stay in the memtable and the WAL only.
            for index in 0..<50 {
                try store.put(bytes("fresh\(index)"), bytes("v\(index)"))
                try oracle.put(bytes("fresh\(index)"), bytes("v\(index)"))
            }
            // No close: the process "crashes" with the memtable unflushed. Dropping the store
            // without close would flush in deinit, so keep it alive and open a copy instead.
            let copy = scratch.child("copy")
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            try? FileManager.default.removeItem(atPath: copy + "/LOCK")
            let reopened = try openLSM(copy, smallLSM)
            #expect(reopened.recoveryReport.replayedCommits >= 50, "\(reopened.recoveryReport)")
            #expect(try entries(reopened) == (try entries(oracle)))
            try reopened.close()
            try store.close()
        }
        let store = try openLSM(path, smallLSM)
        #expect(store.recoveryReport.replayedCommits == 0, "a clean close flushed everything")
        #expect(try entries(store) == (try entries(oracle)))
        try store.close()
    }

    /// Commits 1…N are in SSTs (flushed), commits N+1…N+K only in the WAL: recovery must replay
    /// exactly K, and skip every commit the SSTs already hold.
    @Test("recovery replays only commits newer than the SSTs' highest complete sequence")
    func replaysOnlyNewerCommits() throws {
        let scratch = try ScratchDirectory("lsm-replay")
        let path = scratch.child("store")
        let store = try openLSM(path, ["write_buffer_size": "64KiB"])
        var flushedThrough = 0
        var commits = 0
        // Write until at least one flush happened, then note how far the SSTs go.
        while store.metrics.events().filter({ $0.kind == "flush" }).isEmpty || commits < 3000 {
            commits += 1
            try store.put(bytes("k\(commits % 997)"), [UInt8](repeating: UInt8(commits & 0xFF), count: 60))
            if commits % 500 == 0 { try store.waitForMaintenance() }
        }
        try store.waitForMaintenance()
        let copy = scratch.child("copy")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        try? FileManager.default.removeItem(atPath: copy + "/LOCK")
        let reopened = try openLSM(copy, ["write_buffer_size": "64KiB"])
        let report = reopened.recoveryReport
        flushedThrough = Int(report.persistedSequence)
        #expect(flushedThrough > 0 && flushedThrough < commits)
        #expect(report.replayedCommits == commits - flushedThrough, "\(report)")
        #expect(report.skippedCommits == 0, "WALs older than the SSTs were deleted, so nothing needs skipping: \(report)")
        #expect(try reopened.get(bytes("k\(commits % 997)")) == [UInt8](repeating: UInt8(commits & 0xFF), count: 60))
        try reopened.close()
        try store.close()
    }

    @Test("a torn WAL tail is cut off and the store opens at the last complete commit")
    func tornWALTail() throws {
        let scratch = try ScratchDirectory("lsm-torn")
        let path = scratch.child("store")
        // A WAL that grows with each commit: its torn tail is the file's end.
        let store = try openLSM(path, durability: .always, ["preallocate": "false"])
        for index in 0..<10 { try store.put(bytes("k\(index)"), [UInt8](repeating: 7, count: 100)) }
        let (copy, log) = try crashCopy(of: path, closing: store, to: scratch.child("copy"))
        var data = try Data(contentsOf: URL(fileURLWithPath: log))
        data.removeLast(40)  // the last commit's write was cut short
        try data.write(to: URL(fileURLWithPath: log))
        let reopened = try openLSM(copy)
        #expect(reopened.recoveryReport.truncatedBytes > 0)
        #expect(try reopened.get(bytes("k8")) == [UInt8](repeating: 7, count: 100))
        #expect(try reopened.get(bytes("k9")) == nil, "the torn commit is gone, whole")
        try reopened.put(bytes("after"), bytes("ok"))
        try reopened.close()
        let again = try openLSM(copy)
        #expect(try again.get(bytes("after")) == bytes("ok"))
        try again.close()
    }

    /// An open killed after creating its new MANIFEST but before CURRENT named it leaves a file
    /// whose number the recorded version does not know; the next open must not collide with it.
    @Test("leftover MANIFEST files from an interrupted open neither block nor survive the next open")
    func leftoverManifest() throws {
        let scratch = try ScratchDirectory("lsm-leftover-manifest")
        let path = scratch.child("store")
        var store = try openLSM(path)
        try store.put(bytes("k"), bytes("v"))
        try store.close()
        let current = try String(contentsOfFile: path + "/CURRENT", encoding: .utf8)
        let number = try #require(Int(current.dropFirst("MANIFEST-".count).dropLast()))
        let leftovers = (1...4).map { String(format: "MANIFEST-%06d", number + $0) }
        for name in leftovers { try Data().write(to: URL(fileURLWithPath: path + "/" + name)) }
        store = try openLSM(path)
        #expect(try store.get(bytes("k")) == bytes("v"))
        try store.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        #expect(names.filter { $0.hasPrefix("MANIFEST-") }.count == 1, "\(names)")
    }

    @Test("a flipped byte in the middle of the WAL is reported with the file and offset")
    func corruptWAL() throws {
        let scratch = try ScratchDirectory("lsm-corrupt-wal")
        let path = scratch.child("store")
        let store = try openLSM(path)
        for index in 0..<100 { try store.put(bytes("k\(index)"), [UInt8](repeating: 9, count: 50)) }
        let (copy, log) = try crashCopy(of: path, closing: store, to: scratch.child("copy"))
        var data = try Data(contentsOf: URL(fileURLWithPath: log))
        data[1000] ^= 0x40
        try data.write(to: URL(fileURLWithPath: log))
        do {
            _ = try openLSM(copy)
            Issue.record("opened a WAL with a flipped byte")
        } catch let error as StoreError {
            guard case let .corrupted(file, offset, _) = error else { throw error }
            #expect(file.hasSuffix(log))
            #expect(offset <= 1000 && offset > 0)
        }
    }

    @Test("1M puts over 100k keys, then a full compaction: bytes on disk ≤ 1.5 × live data")
    func overwriteThenCompact() throws {
        let scratch = try ScratchDirectory("lsm-overwrite")
        let store = try openLSM(scratch.child("store"))
        var random = SeededRandom(seed: 5)
        var value = [UInt8](repeating: 0, count: 100)
        var key = [UInt8](repeating: 0, count: 16)
        for step in 0..<1_000_000 {
            let number = random.below(100_000)
            for index in 0..<8 { key[index] = UInt8(truncatingIfNeeded: number >> (56 - 8 * index)) }
            value[0] = UInt8(truncatingIfNeeded: step)
            try store.put(key, value)
        }
        try store.compact()
        // The retired SSTs are unlinked by the background thread: on a loaded machine it may not
        // have run yet when compact() returns.
        try store.waitForMaintenance()
        var live = 0
        var count = 0
        try store.scan(from: [], limit: .max) { key, value in
            live += key.count + value.count
            count += 1
        }
        let disk = try store.statistics().diskBytes
        #expect(count > 99_000 && count <= 100_000)
        #expect(Double(disk) <= 1.5 * Double(live), "disk \(disk) B against live \(live) B")
        #expect(store.levelSummary()[0].files == 0, "full compaction leaves nothing in L0")
        try store.close()
    }

    @Test("a memtable frozen during a compaction is flushed inside it: writers wait for the flush, not the compaction")
    func flushInsideCompaction() throws {
        let scratch = try ScratchDirectory("lsm-flush-in-compaction")
        // Memtables of 16 KiB fill in a few hundred puts; merging L0 into an L1 of 4 MiB files
        // takes thousands of steps, so the writer freezes the next memtable while one runs.
        let path = scratch.child("store")
        let store = try openLSM(path, ["write_buffer_size": "16KiB", "level1_size": "64MiB", "target_file_size": "4MiB", "block_size": "1KiB"])
        var model: [[UInt8]: [UInt8]] = [:]
        var random = SeededRandom(seed: 23)
        var paused: [MaintenanceEvent] = []
        var step = 0
        while paused.isEmpty && step < 400_000 {
            let number = random.below(40_000)
            let value = numberedValue(number, version: step, size: 40)
            try store.put(numberedKey(number), value)
            model[numberedKey(number)] = value
            step += 1
            if step % 5_000 == 0 {
                paused = store.metrics.events().filter { $0.kind == "compaction" && $0.detail.contains("memtable flush") }
            }
        }
        #expect(!paused.isEmpty, "no compaction flushed a memtable in \(step) puts")
        try store.waitForMaintenance()
        #expect(try entries(store) == model)
        try store.close()
        let reopened = try openLSM(path)
        #expect(try entries(reopened) == model)
        try reopened.close()
    }
}

@Suite("lsm preallocated WAL")
struct LSMPreallocationTests {
    @Test("a crash after none of the last commit, or after only its first sector, in a WAL written into zeros prepared ahead")
    func tornInPreallocatedWAL() throws {
        for written in [0, 512] {
            let scratch = try ScratchDirectory("lsm-prealloc")
            let path = scratch.child("store")
            let store = try openLSM(path, durability: .always)
            for index in 0..<10 { try store.put(bytes("k\(index)"), [UInt8](repeating: 7, count: 100)) }
            try store.put(bytes("big"), [UInt8](repeating: 9, count: 3000))
            let (copy, log) = try crashCopy(of: path, closing: store, to: scratch.child("copy"))
            var data = try Data(contentsOf: URL(fileURLWithPath: log))
            let number = try #require(FileNames.number(of: URL(fileURLWithPath: log).lastPathComponent, .wal))
            let records = try LogReader.read(Array(data), path: log, logNumber: number)
            #expect(data.count > records.validEnd, "the WAL was preallocated")
            #expect(data[records.validEnd...].allSatisfy { $0 == 0 })
            let lastStart = records.records.last!.offset
            data.replaceSubrange((lastStart + written)..<records.validEnd, with: Data(count: records.validEnd - lastStart - written))
            try data.write(to: URL(fileURLWithPath: log))
            let reopened = try openLSM(copy)
            #expect(try reopened.get(bytes("big")) == nil, "the torn commit is gone (\(written) bytes written)")
            for index in 0..<10 { #expect(try reopened.get(bytes("k\(index)")) == [UInt8](repeating: 7, count: 100)) }
            #expect((reopened.recoveryReport.truncatedBytes > 0) == (written > 0))
            try reopened.put(bytes("after"), bytes("ok"))
            try reopened.close()
        }
    }
}
