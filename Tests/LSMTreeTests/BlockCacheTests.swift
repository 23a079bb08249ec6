@testable import LSMTree
import StoreCore
import StoreTestSupport
import Testing

@Suite("lsm block cache")
struct BlockCacheTests {
    static func block(_ size: Int) throws -> Block {
        // A block of `size` bytes: entries, then one restart (offset 0) and the count.
        var bytes = [UInt8](repeating: 7, count: max(0, size - 8))
        bytes.appendFixed32(0)
        bytes.appendFixed32(1)
        return try Block(bytes: bytes, path: "t", offset: 0)
    }

    static func key(file: UInt64, block: Int) -> UInt64 { file << 24 | UInt64(block) }

    @Test("stays within its capacity while blocks keep coming, and keeps the block that is in use")
    func evictsWithinCapacity() throws {
        let cache = BlockCache(capacity: 64 << 10)
        let hot = try Self.block(1024)
        cache.insert(Self.key(file: 1, block: 0), hot)
        for index in 0..<2000 {
            cache.insert(Self.key(file: 2, block: index), try Self.block(1000 + index % 50))
            #expect(cache.bytes <= cache.capacity, "after \(index) inserts: \(cache.bytes) bytes")
            #expect(cache.lookup(Self.key(file: 1, block: 0)) === hot, "a block used between inserts is not evicted")
        }
        #expect(cache.bytes > cache.capacity / 2, "the cache is used, not emptied")
        // The oldest of the others went first.
        #expect(cache.lookup(Self.key(file: 2, block: 0)) == nil)
        #expect(cache.lookup(Self.key(file: 2, block: 1999)) != nil)
    }

    @Test("a block bigger than a quarter of the cache is not cached; a zero-capacity cache holds nothing")
    func oversized() throws {
        let cache = BlockCache(capacity: 16 << 10)
        cache.insert(1, try Self.block(5 << 10))
        #expect(cache.lookup(1) == nil && cache.bytes == 0)
        let none = BlockCache(capacity: 0)
        none.insert(1, try Self.block(100))
        #expect(none.lookup(1) == nil && none.bytes == 0)
    }

    @Test("evicting a file drops its blocks and only those")
    func evictFile() throws {
        let cache = BlockCache(capacity: 1 << 20)
        for file: UInt64 in 1...3 {
            for block in 0..<20 { cache.insert(Self.key(file: file, block: block), try Self.block(512)) }
        }
        cache.evict(file: 2)
        #expect((0..<20).allSatisfy { cache.lookup(Self.key(file: 2, block: $0)) == nil })
        #expect((0..<20).allSatisfy { cache.lookup(Self.key(file: 1, block: $0)) != nil && cache.lookup(Self.key(file: 3, block: $0)) != nil })
        #expect(cache.bytes == 40 * 512)
    }
}

@Suite("lsm block cache concurrency")
struct BlockCacheConcurrencyTests {
    @Test("threads looking up and inserting at once: each hit is the block inserted under its key, bytes stay within capacity")
    func sharedUse() throws {
        let cache = BlockCache(capacity: 4 << 20)
        #expect(cache.shardCount == 16)
        let blocks = try (0..<64).map { try BlockCacheTests.block(4096 + $0) }
        try ConcurrentThreads.run(4) { thread in
            var random = SeededRandom(seed: UInt64(thread) + 1)
            for _ in 0..<20_000 {
                let file = UInt64(random.below(8))
                let index = random.below(200)
                let key = BlockCacheTests.key(file: file, block: index)
                let expected = blocks[(Int(file) * 200 + index) % blocks.count]
                if let hit = cache.lookup(key) {
                    try StoreTestSupport.expect(hit === expected, "block under key \(file)/\(index)")
                } else {
                    cache.insert(key, expected)
                }
                if random.below(5000) == 0 { cache.evict(file: file) }
            }
        }
        #expect(cache.bytes <= cache.capacity)
        #expect(cache.hits > 0 && cache.misses > 0)
    }
}
