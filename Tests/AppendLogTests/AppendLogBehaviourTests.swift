import AppendLog
import Foundation
import StoreCore
import StoreTestSupport
import Testing

@Suite("log: behaviour")
struct AppendLogBehaviourTests {
    @Test("the randomized model holds while background merges run", arguments: ["incremental", "full"])
    func modelUnderConstantCompaction(mode: String) throws {
        let options = StoreOptions(durability: .none, settings: [
            "compaction_mode": mode, "segment_size": "4KiB", "compaction_min_dead": "0",
            "compaction_ratio": "0.3", "merge_fragmentation": "0.3",
        ])
        let suite = ConformanceSuite(engine: AppendLogStore.descriptor, options: options, seed: 31, modelOperations: 6_000)
        #expect(try suite.run(.randomizedModel) == .passed)
        #expect(try suite.run(.reopenAfterThousandsOfOperations) == .passed)
    }

    @Test("durability always syncs every commit; none syncs only on close")
    func syncsPerCommit() throws {
        let scratch = try ScratchDirectory("log-sync")
        let always = try openLog(scratch.child("always"), durability: .always)
        let start = always.metrics.snapshot().syncs
        for index in 0..<20 { try always.put(key(index), [1]) }
        var batch = WriteBatch()
        batch.put(key(100), [2])
        batch.delete(key(1))
        try always.apply(batch)
        #expect(always.metrics.snapshot().syncs - start == 21)
        try always.close()
        let none = try openLog(scratch.child("none"), durability: .none)
        let before = none.metrics.snapshot().syncs
        for index in 0..<20 { try none.put(key(index), [1]) }
        #expect(none.metrics.snapshot().syncs == before)
        try none.close()
    }

    @Test("durability interval syncs unsynced commits in the background, and only those")
    func intervalSync() throws {
        let scratch = try ScratchDirectory("log-interval")
        let store = try AppendLogStore(directory: scratch.child("store"), options: StoreOptions(durability: .interval, syncIntervalMilliseconds: 20))
        let start = store.metrics.snapshot().syncs
        try store.put(key(1), [1])
        try store.put(key(2), [2])
        #expect(store.metrics.snapshot().syncs == start, "a commit does not sync by itself")
        var waited = 0
        while store.metrics.snapshot().syncs == start && waited < 5000 {
            usleep(10_000)
            waited += 10
        }
        let synced = store.metrics.snapshot().syncs
        #expect((start + 1)...(start + 2) ~= synced, "the background sync covered the commits")
        usleep(100_000)
        #expect(store.metrics.snapshot().syncs == synced, "nothing new to sync: no more syncs")
        try store.close()
    }

    @Test("write amplification counts record headers: file bytes ≥ user bytes, the difference is the 13-byte headers")
    func writeAmplification() throws {
        let scratch = try ScratchDirectory("log-wamp")
        let store = try openLog(scratch.child("store"), ["compaction_policy": "manual"])
        let before = store.metrics.snapshot()
        for index in 0..<100 { try store.put(key(index), Array(repeating: 7, count: 100)) }
        let after = store.metrics.snapshot()
        let user = after.userBytesWritten - before.userBytesWritten
        let file = after.fileBytesWritten - before.fileBytesWritten
        #expect(user == 100 * (12 + 100))
        #expect(file == user + 100 * 13)
        let statistics = try store.statistics()
        #expect(statistics.liveBytes == file)
        #expect(statistics.deadBytes == 0)
        try store.close()
    }

    @Test("bad settings name the setting")
    func badSettings() throws {
        let scratch = try ScratchDirectory("log-settings")
        for (settings, fragment) in [
            (["segment_sz": "1"], "segment_sz"), (["segment_size": "12"], "segment_size"),
            (["compaction_policy": "sometimes"], "ratio, hive, manual"), (["use_hints": "maybe"], "use_hints"),
        ] {
            #expect { try openLog(scratch.child("s"), settings) } throws: { String(describing: $0).contains(fragment) }
        }
    }

    @Test("statistics: live and dead bytes follow overwrites, deletes and compaction")
    func deadSpaceAccounting() throws {
        let scratch = try ScratchDirectory("log-dead")
        let store = try openLog(scratch.child("store"), ["compaction_policy": "manual"])
        for index in 0..<10 { try store.put(key(index), Array(repeating: 1, count: 87)) }  // 13+12+87 = 112 B each
        var statistics = try store.statistics()
        #expect(statistics.liveBytes == 1120 && statistics.deadBytes == 0 && statistics.keyCount == 10)
        for index in 0..<5 { try store.put(key(index), Array(repeating: 2, count: 87)) }
        try store.delete(key(9))  // a 25-byte tombstone, and key 9's 112 bytes die
        try store.delete(key(99))  // absent: nothing written
        statistics = try store.statistics()
        #expect(statistics.liveBytes == 1120 - 112)
        #expect(statistics.deadBytes == 5 * 112 + 112 + 25)
        #expect(statistics.keyCount == 9)
        try store.compact()
        statistics = try store.statistics()
        #expect(statistics.liveBytes == 1008 && statistics.deadBytes == 0)
        #expect(statistics.diskBytes >= 1008)
        let event = try #require(store.metrics.events().last)
        #expect(event.kind == "compaction" && event.bytesRead == 1008 && event.bytesWritten > 1008)
        try store.close()
    }
}

@Suite("log: merge output ids")
struct MergeOutputIdTests {
    @Test("a merge never reuses the id of a segment it does not merge")
    func outputIdsSkipExistingSegments() throws {
        let scratch = try ScratchDirectory("log-ids")
        let path = scratch.child("store")
        let settings = ["compaction_policy": "manual", "compaction_mode": "incremental",
                        "segment_size": "4KiB", "merge_fragmentation": "0.2"]
        let store = try openLog(path, settings)
        let value = [UInt8](repeating: 1, count: 100)  // 125-byte records: 32 per segment
        for index in 0..<64 { try store.put(key(index), value) }
        for index in 0..<8 { try store.put(key(index), [2]) }
        for index in 32..<40 { try store.put(key(index), [2]) }
        try store.writeHints()
        try store.mergeNow()  // 48 live records of two segments → two outputs, N+1 and N+2
        let afterFirst = try segmentFiles(path)
        for index in 8..<21 { try store.put(key(index), [3]) }  // fragment output N+1 only
        try store.writeHints()
        try store.mergeNow()  // merges N+1 alone: its output must not be N+2
        let afterSecond = try segmentFiles(path)
        #expect(Set(afterFirst).subtracting(afterSecond).count == 1, "only the merged output went: \(afterFirst) → \(afterSecond)")
        let expected = try contents(store)
        #expect(expected.count == 64)
        try store.close()
        let reopened = try openLog(path)
        #expect(try contents(reopened) == expected)
        try reopened.close()
    }
}
