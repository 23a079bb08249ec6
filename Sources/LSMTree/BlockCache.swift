import StoreCore

/// SST data blocks kept in memory, least recently used out first, bounded in bytes
/// (`block_cache_size`, default 8 MiB). Split into shards by block, each with its own lock and
/// LRU list, as LevelDB's ShardedLRUCache is, so that concurrent readers seldom wait for one
/// another. Gets and scans go through it; compactions read around it so that a merge does not
/// push out the blocks readers need.
///
/// A block's key is its SST's number and its index there (`number << 24 | index`); numbers are
/// never reused, so a retired file's blocks can only age out or be evicted, never be read again.
final class BlockCache: Sendable {
    /// Shards hold at least this many bytes (a small cache has fewer shards, down to one).
    static let minimumShardBytes = 256 << 10
    static let maximumShards = 16

    let capacity: Int
    private let shards: [BlockCacheShard]
    private let shardShift: UInt64

    init(capacity: Int) {
        self.capacity = capacity
        var count = 1
        while count < Self.maximumShards && capacity / (count * 2) >= Self.minimumShardBytes { count *= 2 }
        shardShift = UInt64(64 - count.trailingZeroBitCount)
        shards = (0..<count).map { _ in BlockCacheShard(capacity: capacity / count) }
    }

    var shardCount: Int { shards.count }

    @inline(__always)
    private func shard(_ key: UInt64) -> BlockCacheShard {
        shards[Int((key &* 0x9E37_79B9_7F4A_7C15) >> shardShift)]
    }

    func lookup(_ key: UInt64) -> Block? {
        shard(key).lookup(key)
    }

    func insert(_ key: UInt64, _ block: Block) {
        shard(key).insert(key, block)
    }

    /// Drops every block of SST `number` (its file was deleted).
    func evict(file number: UInt64) {
        for shard in shards { shard.evict { $0 >> 24 == number } }
    }

    /// Bytes of the blocks held.
    var bytes: Int { shards.reduce(0) { $0 + $1.counters.bytes } }
    var hits: Int { shards.reduce(0) { $0 + $1.counters.hits } }
    var misses: Int { shards.reduce(0) { $0 + $1.counters.misses } }
}
