import AppendLog
import FaultInjection
import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

@Suite("log: recovery")
struct RecoveryTests {
    /// Writes 50 single puts, a delete, then `last`; returns the store path, the state before and
    /// after `last`, and the segment holding it.
    func prepare(_ scratch: ScratchDirectory, last: (AppendLogStore) throws -> Void) throws
        -> (path: String, before: [[UInt8]: [UInt8]], after: [[UInt8]: [UInt8]], segment: String, lastStart: Int)
    {
        let path = scratch.child("store")
        let store = try openLog(path)
        for index in 0..<50 { try store.put(key(index), Array(repeating: UInt8(index), count: index * 3)) }
        try store.delete(key(7))
        let before = try contents(store)
        let segment = path + "/" + (try segmentFiles(path).last!)
        let lastStart = try fileSize(segment)
        try last(store)
        let after = try contents(store)
        try store.close()
        return (path, before, after, segment, lastStart)
    }

    /// Restores the directory to `files` (name → bytes) exactly.
    func restore(_ path: String, _ files: [String: Data]) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: path) where files[name] == nil {
            try FileManager.default.removeItem(atPath: path + "/" + name)
        }
        for (name, data) in files { try data.write(to: URL(fileURLWithPath: path + "/" + name)) }
    }

    func snapshot(_ path: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + name))
        }
        return files
    }

    @Test("a cut at every byte of the last commit recovers exactly the commits before it", arguments: ["put", "batch"])
    func tornTailAtEveryOffset(lastCommit: String) throws {
        let scratch = try ScratchDirectory("log-torn")
        let (path, before, after, segment, lastStart) = try prepare(scratch) { store in
            if lastCommit == "put" {
                try store.put(key(1000), Array(repeating: 0xAB, count: 40))
            } else {
                var batch = WriteBatch()
                batch.put(key(1000), [1, 2, 3])
                batch.delete(key(3))
                batch.put(key(1001), Array(repeating: 9, count: 20))
                try store.apply(batch)
            }
        }
        let files = try snapshot(path)
        let end = try fileSize(segment)
        #expect(end > lastStart)
        for cut in lastStart..<end {
            try restore(path, files)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: segment))
            try handle.truncate(atOffset: UInt64(cut))
            try handle.close()
            let store = try openLog(path)
            #expect(try contents(store) == before, "cut at \(cut) of \(lastStart)..<\(end)")
            #expect(store.recoveryReport.truncatedBytes == cut - lastStart)
            try store.close()
        }
        // The complete file, and the complete file followed by zeros (a preallocated tail).
        try restore(path, files)
        let store = try openLog(path)
        #expect(try contents(store) == after)
        try store.close()
        try restore(path, files)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: segment))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(count: 500))
        try handle.close()
        let padded = try openLog(path)
        #expect(try contents(padded) == after)
        #expect(padded.recoveryReport.truncatedBytes == 0)
        #expect(padded.recoveryReport.preallocatedBytes == 500)
        try padded.close()
    }

    @Test("a flipped byte before the tail: a reading open fails with the file and offset; an open from hints reports it when the value is read")
    func flippedByte() throws {
        let scratch = try ScratchDirectory("log-flip")
        let (path, _, _, segment, _) = try prepare(scratch) { try $0.put(key(2000), [1]) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        let offset = 200
        bytes[offset] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: segment))
        // A clean close left a hint, so this open does not read the damaged record...
        let fromHints = try openLog(path)
        #expect(fromHints.recoveryReport.segmentsFromHints == 1)
        var damaged = 0
        for index in 0..<50 where index != 7 {
            do { _ = try fromHints.get(key(index)) } catch let error as StoreError {
                guard case let .corrupted(file, _, _) = error else { throw error }
                #expect(file == segment)
                damaged += 1
            }
        }
        // ...but the one key whose record holds the byte cannot be read: an error, never a wrong value.
        #expect(damaged == 1)
        try fromHints.close()
        let error = #expect(throws: StoreError.self) { try openLog(path, ["use_hints": "false"]) }
        guard case let .corrupted(file, at, reason)? = error else {
            Issue.record("expected corruption, got \(String(describing: error))")
            return
        }
        #expect(file == segment)
        #expect(at <= offset && at > offset - 200, "the record holding byte \(offset) starts at \(at)")
        #expect(reason.contains("checksum"))
        let message = String(describing: error!)
        #expect(message.contains(segment) && message.contains("offset \(at)"))
    }

    @Test("a flipped value byte in a sealed segment is caught when the value is read, never returned")
    func flippedValueDetectedOnRead() throws {
        let scratch = try ScratchDirectory("log-flip-read")
        let path = scratch.child("store")
        var store = try openLog(path)
        try store.put(key(1), Array(repeating: 0x55, count: 64))
        try store.put(key(2), Array(repeating: 0x66, count: 64))
        try store.close()
        store = try openLog(path)  // the first segment is now sealed
        let segment = path + "/" + (try segmentFiles(path).first!)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: segment))
        try handle.seek(toOffset: 13 + 12 + 10)  // inside key 1's value
        try handle.write(contentsOf: Data([0x00]))
        try handle.close()
        #expect(throws: StoreError.self) { try store.get(key(1)) }
        #expect(try store.get(key(2)) == Array(repeating: 0x66, count: 64))
        try store.close()
    }

    @Test("open starts a fresh segment each time and cleans leftover temporary files")
    func freshSegmentAndLeftovers() throws {
        let scratch = try ScratchDirectory("log-fresh")
        let path = scratch.child("store")
        var store = try openLog(path)
        try store.put(key(1), [1])
        try store.close()
        FileManager.default.createFile(atPath: path + "/00000000000a0001.log.tmp", contents: Data([1, 2, 3]))
        store = try openLog(path)
        #expect(store.recoveryReport.removedTemporaryFiles == 1)
        #expect(try segmentFiles(path).count == 2)
        try store.put(key(2), [2])
        try store.close()
        #expect(!FileManager.default.fileExists(atPath: path + "/00000000000a0001.log.tmp"))
    }

    @Test("hint files rebuild the index; a damaged hint falls back to scanning")
    func hints() throws {
        let scratch = try ScratchDirectory("log-hints")
        let path = scratch.child("store")
        var store = try openLog(path)
        for index in 0..<2000 { try store.put(key(index), Array(repeating: UInt8(index & 0xFF), count: 50)) }
        for index in stride(from: 0, to: 2000, by: 3) { try store.delete(key(index)) }
        try store.compact()
        let expected = try contents(store)
        try store.close()
        let hintNames = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".hint") }
        #expect(hintNames.count == 1)
        store = try openLog(path)
        #expect(store.recoveryReport.segmentsFromHints == 1)
        #expect(try contents(store) == expected)
        try store.close()
        let hintPath = path + "/" + hintNames[0]
        var hint = try Data(contentsOf: URL(fileURLWithPath: hintPath))
        hint[hint.count / 2] ^= 0xFF
        try hint.write(to: URL(fileURLWithPath: hintPath))
        store = try openLog(path)
        #expect(store.recoveryReport.damagedHints == 1)
        #expect(store.recoveryReport.segmentsFromHints == 0)
        #expect(try contents(store) == expected)
        try store.close()
        store = try openLog(path, ["use_hints": "false"])
        #expect(store.recoveryReport.segmentsFromHints == 0)
        #expect(try contents(store) == expected)
        try store.close()
    }

    /// A record copied out of a batch loses its commit record to the compaction: the output
    /// must still replay by scanning, as it does when a power loss takes its hint.
    @Test("compaction output of batched records replays without its hint", arguments: ["full", "incremental"])
    func batchedRecordsReplayWithoutHint(mode: String) throws {
        let scratch = try ScratchDirectory("log-batch-compaction")
        let path = scratch.child("store")
        let store = try openLog(path, ["compaction_policy": "manual", "compaction_mode": mode, "segment_size": "8KiB", "merge_fragmentation": "0.2"])
        var random = SeededRandom(seed: 31)
        for _ in 0..<400 {
            var batch = WriteBatch()
            for _ in 0..<4 {
                if random.below(5) == 0 { batch.delete(key(random.below(150))) } else { batch.put(key(random.below(150)), random.bytes(40)) }
            }
            try store.apply(batch)
        }
        try compactNow(store, mode: mode)
        let expected = try contents(store)
        try store.close()
        for name in try FileManager.default.contentsOfDirectory(atPath: path) where name.hasSuffix(".hint") {
            try FileManager.default.removeItem(atPath: path + "/" + name)
        }
        let reopened = try openLog(path, ["use_hints": "false"])
        #expect(try contents(reopened) == expected)
        try reopened.close()
    }

    @Test("a crash at every step of a compaction leaves a store that opens with all committed data", arguments: ["full", "incremental"])
    func crashDuringCompaction(mode: String) throws {
        let settings = ["compaction_policy": "manual", "compaction_mode": mode, "segment_size": "8KiB", "merge_fragmentation": "0.2"]
        func populate(_ store: AppendLogStore, _ oracle: MemoryStore) throws {
            var random = SeededRandom(seed: 77)
            for step in 0..<600 {
                let k = key(random.below(120))
                if step % 4 == 3 {
                    try store.delete(k)
                    try oracle.delete(k)
                } else {
                    let value = random.bytes(60)
                    try store.put(k, value)
                    try oracle.put(k, value)
                }
            }
            // Hints of sealed segments are written in the background; finish them now so the
            // compaction's calls are the same in every run.
            try store.writeHints()
        }
        // Count the mutating calls a compaction makes.
        let counting = CrashingFileSystem()
        let countScratch = try ScratchDirectory("log-crash-count")
        let oracle = MemoryStore()
        let counted = try openLog(countScratch.child("store"), fileSystem: counting, settings)
        try populate(counted, oracle)
        let before = counting.mutatingCalls
        try compactNow(counted, mode: mode)
        let steps = counting.mutatingCalls - before
        #expect(steps > 8, "compaction made \(steps) mutating calls: \(counting.log.suffix(steps))")
        #expect(try contents(counted) == contents(oracle))
        try counted.close()

        for crashPoint in 0..<steps {
            let scratch = try ScratchDirectory("log-crash")
            let crashing = CrashingFileSystem()
            let path = scratch.child("store")
            let oracle = MemoryStore()
            do {
                let store = try openLog(path, fileSystem: crashing, settings)
                try populate(store, oracle)
                crashing.arm(crashAfter: crashPoint)
                try? compactNow(store, mode: mode)
                #expect(crashing.hasCrashed || crashPoint >= steps)
                try? store.close()
            }
            let recovered = try openLog(path)
            #expect(try contents(recovered) == contents(oracle), "crash after \(crashPoint) of \(steps) calls (\(mode))")
            try recovered.close()
        }
    }

    func compactNow(_ store: AppendLogStore, mode: String) throws {
        if mode == "full" { try store.compact() } else { try store.mergeNow() }
    }
}
