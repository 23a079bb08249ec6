import ChunkStore
import StoreCore
import StoreTestSupport
import Synchronization
import Testing

/// The `cow` engine's own concurrency guarantees: pinned snapshots, chunk reuse only when no
/// reader can see a chunk, group commit, compaction beside a pinned reader.
@Suite("cow concurrency")
struct ChunkConcurrencyTests {
    static func key(_ index: Int) -> [UInt8] { bytes("key\(1000 + index)") }
    static func value(_ index: Int, round: Int) -> [UInt8] {
        bytes("value \(index) of round \(round) ") + [UInt8](repeating: UInt8(truncatingIfNeeded: round), count: 24)
    }

    /// A tiny cache, so that the pinned reader's reads go to the file and are checked against
    /// their CRC: a reused chunk would fail the check or return another value.
    static let settings = ["chunk_size": "512", "cache_size": "64KiB"]
    /// `settings` on one read path.
    static func settings(_ path: ReadPath) -> [String: String] { settings.merging(["read_path": path.rawValue]) { $1 } }

    @Test("a pinned reader keeps reading its snapshot while the writer frees and rewrites its chunks; once it unpins, reuse resumes and the file stops growing",
          arguments: [Durability.none, .always], [ReadPath.mapped, .cached])
    func pinnedReaderBlocksReuse(durability: Durability, readPath: ReadPath) throws {
        let scratch = try ScratchDirectory("cow-pinned")
        defer { scratch.remove() }
        let store = try openCow(scratch.child("store"), durability: durability, Self.settings(readPath))
        defer { try? store.close() }
        let keys = 150
        for index in 0..<keys { try store.put(Self.key(index), Self.value(index, round: 0)) }
        // Steady state first: rewrites reuse released chunks.
        for round in 1...3 {
            for index in 0..<keys { try store.put(Self.key(index), Self.value(index, round: round)) }
        }
        let steady = store.chunkFile.chunkCount

        let snapshot = try store.pinSnapshot()
        let pinnedRound = 3
        for round in 4...23 {
            for index in 0..<keys {
                if index % 7 == 0 {
                    try store.delete(Self.key(index))  // frees chunks, merges leaves
                } else {
                    try store.put(Self.key(index), Self.value(index, round: round))
                }
            }
            for index in stride(from: 0, to: keys, by: 7) { try store.put(Self.key(index), Self.value(index, round: round)) }
            for index in stride(from: round % 5, to: keys, by: 5) {
                #expect(try snapshot.get(Self.key(index)) == Self.value(index, round: pinnedRound), "round \(round): the snapshot still sees round \(pinnedRound)")
            }
            #expect(try store.get(Self.key(round)) == Self.value(round, round: round))
        }
        // Every entry of the snapshot, read through it after 20 rounds of rewrites.
        let seen = try snapshot.scan(from: [], limit: .max)
        #expect(seen.count == keys)
        for (index, entry) in seen.enumerated() {
            #expect(entry.key == Self.key(index) && entry.value == Self.value(index, round: pinnedRound))
        }
        let grown = store.chunkFile.chunkCount
        #expect(grown > steady + 20 * keys / 10, "nothing the snapshot can see was reused: the file grew from \(steady) to \(grown) chunks")
        #expect(store.chunkFile.waitingForReaders.chunks > 0)

        snapshot.release()
        #expect(store.chunkFile.activeReaders == 0)
        for round in 24...25 {
            for index in 0..<keys { try store.put(Self.key(index), Self.value(index, round: round)) }
        }
        let afterRelease = store.chunkFile.chunkCount
        for round in 26...45 {
            for index in 0..<keys { try store.put(Self.key(index), Self.value(index, round: round)) }
        }
        #expect(store.chunkFile.chunkCount == afterRelease, "reuse resumed: the file stays at \(afterRelease) chunks, not \(store.chunkFile.chunkCount)")
        #expect(store.chunkFile.waitingForReaders.chunks < 4 * keys)
        for index in 0..<keys { #expect(try store.get(Self.key(index)) == Self.value(index, round: 45)) }
        _ = try store.verifyStructure()
    }

    @Test("eight durable writer threads are committed in groups: fewer commits and syncs than acknowledged writes, and every write survives a reopen")
    func groupCommit() throws {
        let scratch = try ScratchDirectory("cow-group")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let store = try openCow(path, durability: .always)
        let threads = 8
        let perThread = 60
        let syncsBefore = store.metrics.snapshot().syncs
        let commitsBefore = store.chunkFile.commits
        try ConcurrentThreads.run(threads) { thread in
            for index in 0..<perThread {
                if index % 10 == 9 {
                    var batch = WriteBatch()
                    batch.put(bytes("t\(thread)-\(index)"), bytes("batch \(index)"))
                    batch.put(bytes("t\(thread)-\(index)b"), bytes("batch \(index) second"))
                    try store.apply(batch)
                } else {
                    try store.put(bytes("t\(thread)-\(index)"), bytes("value \(index)"))
                }
            }
        }
        let writes = threads * perThread
        let syncs = store.metrics.snapshot().syncs - syncsBefore
        let commits = store.chunkFile.commits - commitsBefore
        let groups = store.commitGroups
        #expect(groups.requests <= writes && groups.groups < groups.requests, "queued writers were grouped: \(groups)")
        #expect(commits < writes, "\(writes) writes in \(commits) commits")
        #expect(syncs == commits, "one fdatasync per commit (each commit's predecessor is durable)")
        #expect(syncs < writes, "\(syncs) syncs for \(writes) acknowledged writes")
        try store.close()
        let reopened = try openCow(path)
        defer { try? reopened.close() }
        for thread in 0..<threads {
            for index in 0..<perThread {
                let expected = index % 10 == 9 ? bytes("batch \(index)") : bytes("value \(index)")
                #expect(try reopened.get(bytes("t\(thread)-\(index)")) == expected)
                if index % 10 == 9 { #expect(try reopened.get(bytes("t\(thread)-\(index)b")) == bytes("batch \(index) second")) }
            }
        }
    }

    @Test("compaction beside a pinned reader moves only free chunks and cuts the file only past what the reader can see; after it unpins, compaction shrinks the file",
          arguments: [ReadPath.mapped, .cached])
    func compactionWithPinnedReader(readPath: ReadPath) throws {
        let scratch = try ScratchDirectory("cow-compact-pinned")
        defer { scratch.remove() }
        let store = try openCow(scratch.child("store"), durability: .none, ["cache_size": "64KiB", "read_path": readPath.rawValue])
        defer { try? store.close() }
        for index in 0..<6000 { try store.put(Self.key(index), Self.value(index, round: 1)) }
        for index in 0..<5000 { try store.delete(Self.key(index)) }
        let snapshot = try store.pinSnapshot()
        let before = store.chunkFile.chunkCount
        try store.compact()
        let pinnedCompaction = store.chunkFile.chunkCount
        // The reader's chunks are where they were: its reads (from the file: tiny cache) check.
        let seen = try snapshot.scan(from: [], limit: .max)
        #expect(seen.count == 1000)
        for (offset, entry) in seen.enumerated() { #expect(entry.value == Self.value(5000 + offset, round: 1)) }
        #expect(try store.get(Self.key(5500)) == Self.value(5500, round: 1))
        snapshot.release()
        try store.compact()
        let after = store.chunkFile.chunkCount
        #expect(pinnedCompaction <= before)
        #expect(after < pinnedCompaction, "unpinned, compaction shrank the file further: \(before) → \(pinnedCompaction) → \(after) chunks")
        #expect(after < before / 3)
        _ = try store.verifyStructure()
    }

    @Test("readers beside writers, on a tiny cache or on the mapping: every value read was written, the cache recycles its frames, and nothing stays pinned",
          arguments: [ReadPath.cached, .mapped])
    func readersOnTinyCache(readPath: ReadPath) throws {
        let scratch = try ScratchDirectory("cow-tiny-cache")
        defer { scratch.remove() }
        let store = try openCow(scratch.child("store"), durability: .none, Self.settings(readPath))
        #expect(store.chunkFile.readPath == readPath)
        defer { try? store.close() }
        let keys = 400
        for index in 0..<keys { try store.put(Self.key(index), Self.value(index, round: 0)) }
        let writersDone = Atomic<Int>(0)
        let writers = 2
        try ConcurrentThreads.run(6) { thread in
            var random = SeededRandom(seed: UInt64(thread + 1))
            if thread < writers {
                defer { writersDone.add(1, ordering: .releasing) }
                for step in 1...5000 {
                    let index = random.below(keys)
                    try store.put(Self.key(index), Self.value(index, round: step % 200))
                }
                return
            }
            var value: [UInt8] = []
            while writersDone.load(ordering: .acquiring) < writers {
                // Failures are thrown: `ConcurrentThreads.run` rethrows the first one to the test.
                let index = random.below(keys)
                try expect(try store.get(Self.key(index), into: &value), "key \(index) is never missing")
                let valid = (0..<200).contains { value == Self.value(index, round: $0) }
                try expect(valid, "key \(index) returned a value no writer wrote")
                if random.below(20) == 0 {
                    let entries = try store.scan(from: Self.key(index), limit: 30)
                    for pair in zip(entries, entries.dropFirst()) {
                        try expect(KeyOrder.less(pair.0.key, pair.1.key), "scan in key order")
                    }
                }
            }
        }
        #expect(store.chunkFile.activeReaders == 0)
        #expect(readPath == .mapped || store.chunkFile.cacheMisses > 0)
        _ = try store.verifyStructure()
    }
}
