import StoreCore

/// What a reader searches: the memtable, the immutable memtable being flushed, and the
/// version of the SSTs, taken together at one moment. The store publishes a new view whenever
/// one of them changes; a get or scan holds the view it started with (and so the memtables'
/// memory and the version's files) until it ends, without holding any store-wide lock.
final class ReadView: Sendable {
    let memtable: Memtable
    let immutable: Memtable?
    let version: Version

    init(memtable: Memtable, immutable: Memtable?, version: Version) {
        self.memtable = memtable
        self.immutable = immutable
        self.version = version
    }

    /// The newest value of `key` at or below `snapshot`: memtable → immutable memtable → L0
    /// newest first → L1 … L6.
    @inline(__always)
    func get(_ key: UnsafeRawBufferPointer, snapshot: UInt64, cache: BlockCache, into value: inout [UInt8]) throws -> Bool {
        let hash = BloomFilter.hash(key)
        if let answer = memtable.get(key, hash: hash, snapshot: snapshot, into: &value) { return answer }
        if let immutable, let answer = immutable.get(key, hash: hash, snapshot: snapshot, into: &value) { return answer }
        return try version.get(key, hash: hash, cache: cache, into: &value) ?? false
    }

    /// Every source of the view as of `snapshot`, newest first.
    func sources(snapshot: UInt64, cache: BlockCache?) -> [EntrySource] {
        var sources: [EntrySource] = [.memory(MemtableCursor(memtable, snapshot: snapshot))]
        if let immutable { sources.append(.memory(MemtableCursor(immutable, snapshot: snapshot))) }
        sources += version.sources(cache: cache)
        return sources
    }
}
