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
        let prefix = KeyPrefix.of(key)
        if let answer = Self.get(key, prefix: prefix, snapshot: snapshot, in: memtable, into: &value) { return answer }
        if let immutable, let answer = Self.get(key, prefix: prefix, snapshot: snapshot, in: immutable, into: &value) { return answer }
        return try version.get(key, hash: BloomFilter.hash(key), cache: cache, into: &value) ?? false
    }

    @inline(__always)
    private static func get(
        _ key: UnsafeRawBufferPointer, prefix: UInt64, snapshot: UInt64, in memtable: Memtable, into value: inout [UInt8]
    ) -> Bool? {
        switch memtable.get(key, prefix: prefix, snapshot: snapshot) {
        case .absent: return nil
        case .deleted: return false
        case let .value(bytes):
            value.removeAll(keepingCapacity: true)
            value.append(contentsOf: bytes)
            return true
        }
    }

    /// Every source of the view as of `snapshot`, newest first.
    func sources(snapshot: UInt64, cache: BlockCache?) -> [EntrySource] {
        var sources: [EntrySource] = [.memory(MemtableIterator(memtable, snapshot: snapshot))]
        if let immutable { sources.append(.memory(MemtableIterator(immutable, snapshot: snapshot))) }
        sources += version.sources(cache: cache)
        return sources
    }
}
