import StoreCore

/// The B+tree's read paths, for any `ChunkSource`: a reader's pinned snapshot or the writer's
/// transaction. They keep no state between calls and touch no object but the source, so readers
/// on many threads share nothing here (no reference count either: see `SnapshotView`).
extension ChunkSource {
    /// Descends from the root to the leaf that would hold `key`.
    @inline(__always)
    func descend(_ key: UnsafeRawBufferPointer) throws(StoreError) -> UInt32 {
        var virtual = treeRoot
        var depth = 0
        while true {
            let node = NodeView(try read(virtual), chunkSize: chunkSize)
            if node.isLeaf { return virtual }
            guard node.kindByte == NodeKind.internal.rawValue, depth < 64 else {
                throw corrupt(virtual, "chunk is not a tree node (kind \(node.kindByte)) or the tree is deeper than 64")
            }
            virtual = node.child(node.childIndex(key))
            depth += 1
        }
    }

    /// Looks `key` up; on a hit its value replaces the contents of `value`.
    func get(_ key: UnsafeRawBufferPointer, into value: inout [UInt8]) throws(StoreError) -> Bool {
        guard treeRoot != 0 else { return false }
        let leafId = try descend(key)
        let leaf = NodeView(try read(leafId), chunkSize: chunkSize)
        let (index, found) = leaf.lowerBound(key)
        guard found else { return false }
        let stored = leaf.value(index)
        if stored.overflow {
            try readOverflow(leaf.overflowChunk(index), length: stored.length, into: &value)
        } else {
            value.removeAll(keepingCapacity: true)
            value.append(contentsOf: UnsafeRawBufferPointer(start: leaf.base + stored.start, count: stored.length))
        }
        return true
    }

    /// Reads the `length`-byte value starting at overflow chunk `first`. Each chunk is copied out
    /// before the next is read, so a reader holds one cache buffer at a time.
    func readOverflow(_ first: UInt32, length: Int, into value: inout [UInt8]) throws(StoreError) {
        let payload = NodeLayout.overflowPayload(chunkSize)
        value.removeAll(keepingCapacity: true)
        value.reserveCapacity(length)
        var virtual = first
        while value.count < length {
            guard virtual != 0 else { throw corrupt(first, "overflow chain ends after \(value.count) of \(length) bytes") }
            enterCache()  // the previous chunk is copied out: only this one is held
            let bytes = try read(virtual)
            let part = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
            guard part > 0, part <= payload, part <= length - value.count else {
                throw corrupt(virtual, "overflow chunk holds \(part) bytes where \(length - value.count) remain")
            }
            value.append(contentsOf: UnsafeRawBufferPointer(start: bytes + NodeLayout.overflowHeader, count: part))
            virtual = UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self))
        }
    }

    /// Visits up to `limit` entries with keys ≥ `start`, following leaf links. Each leaf is
    /// copied out first (so overflow reads cannot evict it, and a reader holds no cache buffer
    /// while `body` runs: a slow body does not keep evicted frames from being recycled).
    func scan(
        from start: UnsafeRawBufferPointer, limit: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        guard treeRoot != 0, limit > 0 else { return 0 }
        let page = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { page.deallocate() }
        var leafId = try descend(start)
        page.copyMemory(from: try read(leafId), byteCount: chunkSize)
        leaveCache()
        var leaf = NodeView(UnsafeRawPointer(page), chunkSize: chunkSize)
        var index = leaf.lowerBound(start).index
        var visited = 0
        var large: [UInt8] = []
        var hops = 0
        while true {
            while index < leaf.count {
                let stored = leaf.value(index)
                if stored.overflow {
                    try readOverflow(leaf.overflowChunk(index), length: stored.length, into: &large)
                    leaveCache()
                    try large.withUnsafeBytes { try body(leaf.key(index), $0) }
                } else {
                    try body(leaf.key(index), UnsafeRawBufferPointer(start: leaf.base + stored.start, count: stored.length))
                }
                visited += 1
                if visited == limit { return visited }
                index += 1
            }
            let next = leaf.link
            guard next != 0 else { return visited }
            hops += 1
            guard hops <= virtualLimit else { throw corrupt(leafId, "leaf links form a cycle") }
            leafId = next
            enterCache()
            page.copyMemory(from: try read(next), byteCount: chunkSize)
            leaveCache()
            leaf = NodeView(UnsafeRawPointer(page), chunkSize: chunkSize)
            guard leaf.isLeaf else { throw corrupt(next, "a leaf links to a chunk that is not a leaf") }
            index = 0
        }
    }
}
