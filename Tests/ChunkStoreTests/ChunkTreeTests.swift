import ChunkStore
import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

func openCow(_ path: String, durability: Durability = .none, _ settings: [String: String] = [:]) throws -> ChunkStore {
    try ChunkStore(directory: path, options: StoreOptions(durability: durability, settings: settings))
}

func allEntries(_ store: any Store) throws -> [[UInt8]: [UInt8]] {
    var result: [[UInt8]: [UInt8]] = [:]
    try store.scan(from: [], limit: .max) { key, value in result[Array(key)] = Array(value) }
    return result
}

@Suite("cow B+tree")
struct ChunkTreeTests {
    /// Small chunks make a deep tree with many splits and merges out of few keys; some values
    /// are large enough to go to overflow chunks.
    @Test("random puts, deletes and batches match an oracle; the structure verifies throughout", arguments: [512, 4096])
    func randomizedAgainstOracle(chunkSize: Int) throws {
        let scratch = try ScratchDirectory("cow-random")
        let path = scratch.child("store")
        let settings = ["chunk_size": String(chunkSize)]
        var store = try openCow(path, settings)
        let oracle = MemoryStore()
        var random = SeededRandom(seed: UInt64(chunkSize))
        for step in 1...6000 {
            let key = bytes("k\(random.below(1500))")
            let roll = random.below(100)
            if roll < 55 {
                let size = random.below(10) == 0 ? random.below(3 * chunkSize) : random.below(40)
                let value = random.bytes(size)
                try store.put(key, value)
                try oracle.put(key, value)
            } else if roll < 90 {
                try store.delete(key)
                try oracle.delete(key)
            } else {
                var batch = WriteBatch()
                for _ in 0..<(1 + random.below(20)) {
                    let batchKey = bytes("k\(random.below(1500))")
                    if random.below(3) == 0 { batch.delete(batchKey) } else { batch.put(batchKey, random.bytes(random.below(60))) }
                }
                try store.apply(batch)
                try oracle.apply(batch)
            }
            if step % 1000 == 0 {
                _ = try store.verifyStructure()
                try store.close()
                store = try openCow(path, settings)
                #expect(try allEntries(store) == (try allEntries(oracle)), "after \(step) operations and a reopen")
            }
        }
        for key in try oracle.scan(from: [], limit: .max).map(\.key) { try store.delete(key) }
        _ = try store.verifyStructure()
        #expect(store.chunkFile.mappedVirtualCount == 0, "deleting every key frees every chunk")
        #expect(try store.statistics().keyCount == 0)
        try store.close()
    }

    @Test("churn: 200k operations over 10k keys keep the file within 2× live data plus a fixed overhead")
    func churnIsBounded() throws {
        let scratch = try ScratchDirectory("cow-churn")
        let store = try openCow(scratch.child("store"))
        var random = SeededRandom(seed: 7)
        let value = [UInt8](repeating: 0x61, count: 100)
        var sizes: [Int] = []
        for step in 1...200_000 {
            let key = bytes(String(format: "key%06d", random.below(10_000)))
            // 50% overwrites or inserts, 20% deletes, 30% reads.
            let roll = random.below(10)
            if roll < 5 { try store.put(key, value) } else if roll < 7 { try store.delete(key) } else { _ = try store.get(key) }
            if step % 50_000 == 0 { sizes.append(try store.statistics().diskBytes) }
        }
        let statistics = try store.statistics()
        let live = try #require(statistics.liveBytes)
        let fixedOverhead = 256 << 10
        #expect(statistics.diskBytes <= 2 * live + fixedOverhead,
                "file \(statistics.diskBytes) B against live \(live) B")
        #expect(sizes.last! <= sizes[1] + sizes[1] / 10, "the file stops growing once freed chunks are reused: \(sizes)")
        _ = try store.verifyStructure()
        try store.close()
    }

    @Test("compact moves chunks to the front, truncates the tail and records a maintenance event")
    func compactShrinks() throws {
        let scratch = try ScratchDirectory("cow-compact")
        let path = scratch.child("store")
        var store = try openCow(path)
        for index in 0..<20_000 { try store.put(bytes("key\(index)"), [UInt8](repeating: 7, count: 100)) }
        // Deleting the first keys empties the front; the tail stays in use until compaction.
        for index in 0..<18_000 { try store.delete(bytes("key\(index)")) }
        let before = try store.statistics().diskBytes
        try store.compact()
        let after = try store.statistics().diskBytes
        #expect(after < before / 3, "compaction shrank the file from \(before) to \(after) bytes")
        let events = store.metrics.events()
        #expect(events.last?.kind == "compaction" && events.last!.durationNanos > 0)
        _ = try store.verifyStructure()
        try store.close()
        store = try openCow(path)
        #expect(try store.statistics().keyCount == 2000)
        #expect(try store.get(bytes("key19999")) == [UInt8](repeating: 7, count: 100))
        _ = try store.verifyStructure()
        try store.close()
    }

    @Test("a store keeps its chunk size; asking for another one is an error")
    func chunkSizeIsFixed() throws {
        let scratch = try ScratchDirectory("cow-chunksize")
        let path = scratch.child("store")
        try openCow(path, ["chunk_size": "1KiB"]).close()
        let store = try openCow(path)
        #expect(store.chunkFile.chunkSize == 1024)
        try store.close()
        #expect(throws: StoreError.self) { try openCow(path, ["chunk_size": "4KiB"]) }
        #expect(throws: StoreError.self) { try openCow(scratch.child("other"), ["chunk_size": "3000"]) }
    }
}

@Suite("Chunk cache counters")
struct ChunkCacheCounterTests {
    @Test("statistics count the chunk cache's hits and misses on the cached read path: a cold read misses, a warm one hits, a small cache misses again")
    func hitsAndMisses() throws {
        let scratch = try ScratchDirectory("cow-cache-counters")
        let path = scratch.child("store")
        let cached = ["read_path": "cached"]
        do {
            let store = try openCow(path, cached)
            for index in 0..<5_000 { try store.put(bytes("key-\(index)"), [UInt8](repeating: UInt8(index & 0xFF), count: 200)) }
            try store.close()
        }
        let store = try openCow(path, cached)
        let start = try store.statistics()
        var value: [UInt8] = []
        for index in 0..<5_000 { _ = try store.get(bytes("key-\(index)"), into: &value) }
        let cold = try store.statistics()
        for index in 0..<5_000 { _ = try store.get(bytes("key-\(index)"), into: &value) }
        let warm = try store.statistics()
        let coldMisses = try #require(cold.cacheMisses) - (start.cacheMisses ?? 0)
        let coldHits = try #require(cold.cacheHits) - (start.cacheHits ?? 0)
        #expect(coldMisses > 0 && coldHits > coldMisses, "a cold pass reads each chunk once and finds it after: \(coldHits) hits, \(coldMisses) misses")
        #expect(warm.cacheMisses == cold.cacheMisses, "the whole store fits the default cache: no miss on the second pass")
        #expect(try #require(warm.cacheHits) - coldHits - (start.cacheHits ?? 0) >= 5_000 * 2, "every get of the warm pass walks at least two cached chunks")
        try store.close()

        // A cache of 64 KiB (16 chunks) cannot hold the store: the same pass misses again.
        let small = try openCow(path, ["cache_size": "64KiB", "read_path": "cached"])
        for _ in 0..<2 { for index in 0..<5_000 { _ = try small.get(bytes("key-\(index)"), into: &value) } }
        let figures = try small.statistics()
        #expect(try #require(figures.cacheMisses) > coldMisses, "a small cache misses more than the cold pass of a large one")
        try small.close()
    }
}
