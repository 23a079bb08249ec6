import AppendLog
import FaultInjection
import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

@Suite("log: deletes=tombstone-file")
struct TombstoneFileTests {
    let variant = ["deletes": "tombstone-file"]

    func tombstonePath(_ path: String) -> String { path + "/TOMBSTONES" }

    /// 50 puts and 5 deletes, then `last`; returns states before and after `last`, the segment
    /// holding it, and where the segment and the tombstone file ended before it.
    func prepare(_ path: String, last: (AppendLogStore) throws -> Void) throws
        -> (before: [[UInt8]: [UInt8]], after: [[UInt8]: [UInt8]], segment: String, segmentStart: Int, tombstoneStart: Int)
    {
        let store = try openLog(path, variant)
        for index in 0..<50 { try store.put(key(index), Array(repeating: UInt8(index), count: index * 3)) }
        for index in stride(from: 5, to: 30, by: 5) { try store.delete(key(index)) }
        let before = try contents(store)
        let segment = path + "/" + (try segmentFiles(path).last!)
        let segmentStart = try fileSize(segment)
        let tombstoneStart = try fileSize(tombstonePath(path))
        try last(store)
        let after = try contents(store)
        try store.close()
        return (before, after, segment, segmentStart, tombstoneStart)
    }

    @Test("deletes go to the tombstone file, not the segments")
    func deletesLeaveSegmentsAlone() throws {
        let scratch = try ScratchDirectory("log-tomb-separate")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let (before, _, segment, segmentStart, tombstoneStart) = try prepare(path) { try $0.delete(key(1)) }
        #expect(before.count == 45)
        #expect(tombstoneStart == 5 * (25 + key(0).count))
        #expect(try fileSize(segment) == segmentStart, "a delete writes nothing to the segment")
        // The delete's record, then the seal of the clean close.
        #expect(try fileSize(tombstonePath(path)) == tombstoneStart + 25 + key(0).count + 25)
    }

    @Test("a batch of puts and deletes: a cut at every byte of its segment commit, or of its tombstones, recovers the state before it")
    func tornBatchAcrossTheTwoFiles() throws {
        let scratch = try ScratchDirectory("log-tomb-torn")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let (before, after, segment, segmentStart, tombstoneStart) = try prepare(path) { store in
            var batch = WriteBatch()
            batch.put(key(1000), [1, 2, 3])
            batch.delete(key(3))
            batch.put(key(1001), Array(repeating: 9, count: 20))
            batch.delete(key(4))
            try store.apply(batch)
        }
        #expect(after[key(3)] == nil && after[key(1000)] != nil)
        let files = try StoreFiles.snapshot(path)
        let segmentEnd = try fileSize(segment)
        let tombstoneEnd = try fileSize(tombstonePath(path))
        #expect(segmentEnd > segmentStart && tombstoneEnd > tombstoneStart)
        // Tombstones are written first: a crash leaves them whole and the segment commit cut.
        for cut in segmentStart..<segmentEnd {
            try StoreFiles.restore(path, files)
            try StoreFiles.truncate(segment, to: cut)
            let store = try openLog(path, variant)
            #expect(try contents(store) == before, "segment cut at \(cut) of \(segmentStart)..<\(segmentEnd)")
            #expect(try fileSize(tombstonePath(path)) == tombstoneStart, "the batch's tombstones are cut off with it")
            try store.close()
        }
        // ...or the tombstones themselves cut, and nothing in the segment.
        for cut in tombstoneStart..<tombstoneEnd {
            try StoreFiles.restore(path, files)
            try StoreFiles.truncate(segment, to: segmentStart)
            try StoreFiles.truncate(tombstonePath(path), to: cut)
            let store = try openLog(path, variant)
            #expect(try contents(store) == before, "tombstones cut at \(cut) of \(tombstoneStart)..<\(tombstoneEnd)")
            try store.close()
        }
        try StoreFiles.restore(path, files)
        let store = try openLog(path, variant)
        #expect(try contents(store) == after)
        try store.close()
    }

    @Test("a delete or a batch of deletes alone: a cut at every byte of its tombstones recovers the state before it", arguments: ["delete", "batch"])
    func tornDeletes(lastCommit: String) throws {
        let scratch = try ScratchDirectory("log-tomb-torn-deletes")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let (before, after, _, _, tombstoneStart) = try prepare(path) { store in
            if lastCommit == "delete" {
                try store.delete(key(40))
            } else {
                var batch = WriteBatch()
                for index in 40..<44 { batch.delete(key(index)) }
                try store.apply(batch)
            }
        }
        let files = try StoreFiles.snapshot(path)
        // The commit's records end where the seal of the clean close begins.
        let tombstoneEnd = try fileSize(tombstonePath(path)) - 25
        for cut in tombstoneStart..<tombstoneEnd {
            try StoreFiles.restore(path, files)
            try StoreFiles.truncate(tombstonePath(path), to: cut)
            let store = try openLog(path, variant)
            #expect(try contents(store) == before, "cut at \(cut) of \(tombstoneStart)..<\(tombstoneEnd)")
            #expect(store.recoveryReport.truncatedBytes == cut - tombstoneStart)
            try store.close()
        }
        try StoreFiles.restore(path, files)
        let store = try openLog(path, variant)
        #expect(try contents(store) == after)
        try store.close()
    }

    @Test("after a clean close the file ends in a seal: a damaged last tombstone is corruption, not a torn tail")
    func sealedTail() throws {
        let scratch = try ScratchDirectory("log-tomb-sealed")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let (_, after, _, _, _) = try prepare(path) { try $0.delete(key(44)) }
        let file = tombstonePath(path)
        let pristine = try Data(contentsOf: URL(fileURLWithPath: file))
        let recordSize = 25 + key(0).count
        let lastRecord = pristine.count - 25 - recordSize
        for offset in [lastRecord + 3, lastRecord + 22, pristine.count - 1 - 25] {
            var bytes = pristine
            bytes[offset] ^= 0x04
            try bytes.write(to: URL(fileURLWithPath: file))
            let error = #expect(throws: StoreError.self, "flip at \(offset)") { try openLog(path, variant) }
            guard case let .corrupted(reported, at, _)? = error else { continue }
            #expect(reported == file && at == Int64(lastRecord))
        }
        // A damaged seal itself hides nothing: it is cut as a torn tail and every delete stays.
        var bytes = pristine
        bytes[pristine.count - 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: file))
        let store = try openLog(path, variant)
        #expect(try contents(store) == after)
        try store.close()
    }

    @Test("a damaged tombstone before the tail is reported with the tombstone file and its offset")
    func corruptTombstone() throws {
        let scratch = try ScratchDirectory("log-tomb-corrupt")
        defer { scratch.remove() }
        let path = scratch.child("store")
        _ = try prepare(path) { try $0.delete(key(44)) }
        let file = tombstonePath(path)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let recordSize = 25 + key(0).count
        bytes[2 * recordSize + 30] ^= 0x01  // a key byte of the third tombstone
        try bytes.write(to: URL(fileURLWithPath: file))
        let error = #expect(throws: StoreError.self) { try openLog(path, variant) }
        guard case let .corrupted(reported, offset, reason)? = error else {
            Issue.record("expected corruption, got \(String(describing: error))")
            return
        }
        #expect(reported == file && offset == Int64(2 * recordSize))
        #expect(reason.contains("checksum"))
    }

    @Test("vacuum rewrites the segments without deleted or overwritten records and empties the tombstone file; the ratio policy triggers it")
    func vacuum() throws {
        let scratch = try ScratchDirectory("log-tomb-vacuum")
        defer { scratch.remove() }
        let path = scratch.child("store")
        var store = try openLog(path, variant.merging(["compaction_policy": "manual"]) { $1 })
        for index in 0..<2000 { try store.put(key(index), Array(repeating: 1, count: 100)) }
        for index in 0..<1500 { try store.delete(key(index)) }
        #expect(try fileSize(tombstonePath(path)) == 1500 * (25 + key(0).count))
        try store.compact()
        #expect(try fileSize(tombstonePath(path)) == 0)
        let statistics = try store.statistics()
        #expect(statistics.keyCount == 500)
        #expect(statistics.deadBytes == 0)
        let event = store.metrics.events().last { $0.kind == "compaction" }
        #expect(event?.detail.hasPrefix("vacuum") == true, "\(String(describing: event?.detail))")
        try store.close()
        store = try openLog(path, variant)
        #expect(try contents(store).count == 500)
        #expect(try store.get(key(1499)) == nil && store.get(key(1500)) == Array(repeating: 1, count: 100))
        try store.close()
        // Under the ratio policy deletes alone bring a vacuum: the tombstone file counts as dead.
        let ratio = scratch.child("ratio")
        store = try openLog(ratio, variant.merging(["compaction_min_dead": "16KiB"]) { $1 })
        for index in 0..<1000 { try store.put(key(index), [1]) }
        for index in 0..<1000 { try store.delete(key(index)) }
        #expect(store.metrics.events().contains { $0.kind == "compaction" && $0.detail.hasPrefix("vacuum (policy)") })
        #expect(try fileSize(tombstonePath(ratio)) < 1000 * (25 + key(0).count))
        try store.close()
    }

    @Test("a crash at every step of a vacuum leaves a store that opens with every commit")
    func crashDuringVacuum() throws {
        let scratch = try ScratchDirectory("log-tomb-vacuum-crash")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let settings = variant.merging(["compaction_policy": "manual", "segment_size": "4KiB"]) { $1 }
        var store = try openLog(path, settings)
        let oracle = MemoryStore()
        for index in 0..<300 {
            try store.put(key(index % 80), Array(repeating: UInt8(index & 0xFF), count: 30))
            try oracle.put(key(index % 80), Array(repeating: UInt8(index & 0xFF), count: 30))
            if index % 3 == 0 {
                try store.delete(key(index % 70))
                try oracle.delete(key(index % 70))
            }
        }
        try store.close()
        let files = try StoreFiles.snapshot(path)
        var step = 0
        while true {
            try StoreFiles.restore(path, files)
            let crashing = CrashingFileSystem()
            store = try openLog(path, durability: .always, fileSystem: crashing, settings)
            crashing.arm(crashAfter: step)
            try? store.compact()
            let crashed = crashing.hasCrashed
            try? store.close()
            let reopened = try openLog(path, settings)
            #expect(try contents(reopened) == contents(oracle), "crash after \(step) mutating calls of the vacuum")
            try reopened.close()
            if !crashed { break }
            step += 1
        }
        #expect(step > 5, "the vacuum made \(step) mutating calls")
    }
}
