import StoreCore

/// The entries of one memtable as of a snapshot, in key order: for each key, its newest version
/// at or below `snapshot` (a tombstone has no value). Reads the skiplist in place, without a
/// lock and without copying; keys and values are valid while the iterator exists.
final class MemtableIterator {
    let memtable: Memtable
    let snapshot: UInt64
    private var node: UnsafeMutableRawPointer?

    init(_ memtable: Memtable, snapshot: UInt64) {
        self.memtable = memtable
        self.snapshot = snapshot
    }

    var isValid: Bool { node != nil }
    var key: UnsafeRawBufferPointer { Memtable.key(node!) }
    /// The current value, `nil` for a tombstone.
    var value: UnsafeRawBufferPointer? { Memtable.value(node!) }

    func seek(_ key: UnsafeRawBufferPointer) {
        node = memtable.seek(key, prefix: KeyPrefix.of(key), sequence: snapshot, order: .max)
        skipInvisible()
    }

    func seekToFirst() {
        node = memtable.first
        skipInvisible()
    }

    /// Moves past every other version of the current key.
    func next() {
        guard let current = node else { return }
        var next = Memtable.next(current)
        while let candidate = next, Memtable.sameKey(candidate, current) { next = Memtable.next(candidate) }
        node = next
        skipInvisible()
    }

    /// Nodes of one key run newest first, so skipping those newer than the snapshot lands on
    /// the newest version the snapshot sees (of this key or a later one).
    @inline(__always)
    private func skipInvisible() {
        while let current = node, Memtable.sequence(current) > snapshot { node = Memtable.next(current) }
    }
}
