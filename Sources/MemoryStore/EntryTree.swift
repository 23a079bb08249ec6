import StoreCore

/// The entries in key order: a B+tree over `MemoryEntry`s for scans, changed only by inserts and
/// deletes. Nodes are single blocks from the `EntryArena` (huge pages), and every slot keeps its
/// key's first 16 bytes as two big-endian integers beside the entry pointer, so a search compares
/// integers in one block and reads a key's bytes only when 16 bytes tie — the default mix's keys
/// (`user` + 20 digits) share their first 8 bytes, which made 8-byte prefixes tie at nearly every
/// step of a descent.
///
/// A leaf holds up to 64 entries and links to its neighbours; an internal node up to 64 children
/// and the separators between them (`separator[i]` ≤ every key under `children[i + 1]`, copies of
/// key bytes). A leaf that empties leaves the tree, an internal node with no child too; leaves are
/// not merged otherwise, so a tree that loses most of its keys keeps some partly empty leaves.
///
/// A descent starts loading each node it is about to search (`prefetch`), so a cold leaf costs
/// about one memory latency rather than one per line its search and shift touch. Key prefixes and
/// separators: `EntryTree+Keys`; the nodes: `EntryTree+Leaf`, `EntryTree+Inner`.
///
/// Not thread-safe: `MemoryStore` holds its lock around every call (shared for `forEach`).
struct EntryTree {
    private var root: UnsafeMutableRawPointer
    /// Internal levels above the leaves (0: the root is a leaf).
    private var height = 0
    private(set) var count = 0

    init(arena: inout EntryArena) {
        root = Leaf.make(&arena)
    }

    /// Walks from the root to the leaf whose range holds `probe`, noting each internal node and
    /// the child taken in `path` (room for `height` steps).
    @inline(__always)
    private func descend(_ probe: Probe, path: UnsafeMutablePointer<(node: UnsafeMutableRawPointer, child: Int)>?) -> Leaf {
        var node = root
        for level in 0..<height {
            let inner = Inner(node)
            let index = inner.childIndex(probe)
            path?[level] = (node, index)
            node = inner.child(index)
            if level == height - 1 { Leaf(node).prefetch() } else { Inner(node).prefetch() }
        }
        return Leaf(node)
    }

    /// Adds `entry` under `key` (replacing the entry of an equal key).
    mutating func insert(_ key: UnsafeRawBufferPointer, _ entry: MemoryEntry, arena: inout EntryArena) {
        let probe = Probe(key)
        withUnsafeTemporaryAllocation(of: (node: UnsafeMutableRawPointer, child: Int).self, capacity: height + 1) { path in
            let leaf = descend(probe, path: path.baseAddress)
            let (index, found) = leaf.lowerBound(probe)
            if found {
                leaf.setEntry(index, entry)
                return
            }
            leaf.insert(probe, entry, at: index)
            count += 1
            guard leaf.count > Leaf.capacity else { return }

            // Split the leaf; its upper half starts at the separator.
            let right = Leaf(Leaf.make(&arena))
            leaf.move(from: leaf.count / 2, to: right)
            right.next = leaf.next
            right.previous = leaf.base
            if let next = leaf.next { Leaf(next).previous = right.base }
            leaf.next = right.base
            var separator = (high: right.high(0), low: right.low(0), block: Self.makeSeparator(right.entry(0).key, &arena))
            var newChild = right.base
            var level = height - 1
            while level >= 0 {
                let (node, child) = path[level]
                let parent = Inner(node)
                parent.insert(separator: separator, child: newChild, at: child)
                guard parent.count > Inner.capacity else { return }
                // Split: the left keeps 33 children, the middle separator moves up.
                let sibling = Inner(Inner.make(&arena))
                let keep = (parent.count + 1) / 2
                let moved = parent.count - keep
                separator = (parent.high(keep - 1), parent.low(keep - 1), parent.separator(keep - 1))
                sibling.highs.copyMemory(from: parent.highs + 8 * keep, byteCount: 8 * (moved - 1))
                sibling.lows.copyMemory(from: parent.lows + 8 * keep, byteCount: 8 * (moved - 1))
                sibling.separators.copyMemory(from: parent.separators + 8 * keep, byteCount: 8 * (moved - 1))
                sibling.children.copyMemory(from: parent.children + 8 * keep, byteCount: 8 * moved)
                sibling.count = moved
                parent.count = keep
                newChild = sibling.base
                level -= 1
            }
            let newRoot = Inner(Inner.make(&arena))
            newRoot.setChild(0, root)
            newRoot.count = 1
            newRoot.insert(separator: separator, child: newChild, at: 0)
            root = newRoot.base
            height += 1
        }
    }

    /// Points `key`'s slot at `entry` (the same key, reallocated).
    func replace(_ key: UnsafeRawBufferPointer, with entry: MemoryEntry) {
        let probe = Probe(key)
        let leaf = descend(probe, path: nil)
        let (index, found) = leaf.lowerBound(probe)
        precondition(found, "EntryTree.replace: key not in the tree")
        leaf.setEntry(index, entry)
    }

    /// Removes `key`'s slot. - Returns: whether it was there.
    @discardableResult
    mutating func remove(_ key: UnsafeRawBufferPointer, arena: inout EntryArena) -> Bool {
        let probe = Probe(key)
        return withUnsafeTemporaryAllocation(of: (node: UnsafeMutableRawPointer, child: Int).self, capacity: height + 1) { path in
            let leaf = descend(probe, path: path.baseAddress)
            let (index, found) = leaf.lowerBound(probe)
            guard found else { return false }
            leaf.remove(at: index)
            count -= 1
            guard leaf.count == 0, height > 0 else { return true }

            // An empty leaf leaves the chain and its parent, and an emptied parent its own.
            if let previous = leaf.previous { Leaf(previous).next = leaf.next }
            if let next = leaf.next { Leaf(next).previous = leaf.previous }
            arena.deallocate(leaf.base, byteCount: Leaf.byteCount)
            var level = height - 1
            while level >= 0 {
                let (node, child) = path[level]
                let parent = Inner(node)
                if let block = parent.removeChild(at: child) {
                    Self.freeSeparator(block, &arena)
                    break
                }
                if level == 0 {
                    // The root lost its last child: the tree is empty.
                    arena.deallocate(node, byteCount: Inner.byteCount)
                    root = Leaf.make(&arena)
                    height = 0
                    return true
                }
                arena.deallocate(node, byteCount: Inner.byteCount)
                level -= 1
            }
            // A root with one child gives way to it.
            while height > 0, Inner(root).count == 1 {
                let old = root
                root = Inner(root).child(0)
                arena.deallocate(old, byteCount: Inner.byteCount)
                height -= 1
            }
            return true
        }
    }

    /// Calls `body` with each entry whose key is ≥ `start`, in key order, until it returns false.
    @inline(__always)
    func forEach(from start: UnsafeRawBufferPointer, _ body: (MemoryEntry) throws -> Bool) rethrows {
        let probe = Probe(start)
        let first = descend(probe, path: nil)
        var index = first.lowerBound(probe).index
        var current: UnsafeMutableRawPointer? = first.base
        while let base = current {
            let leaf = Leaf(base)
            if let next = leaf.next { Leaf(next).prefetchEntries() }
            while index < leaf.count {
                if try !body(leaf.entry(index)) { return }
                index += 1
            }
            current = leaf.next
            index = 0
        }
    }

    /// Replaces every slot's entry with what `move` returns for it, in key order (the hash table
    /// moved them all). `move` may reuse an entry's old memory only for entries already visited.
    func repointAll(_ move: (MemoryEntry) -> MemoryEntry) {
        var current: UnsafeMutableRawPointer? = descend(Probe(UnsafeRawBufferPointer(start: nil, count: 0)), path: nil).base
        while let base = current {
            let leaf = Leaf(base)
            for index in 0..<leaf.count { leaf.setEntry(index, move(leaf.entry(index))) }
            current = leaf.next
        }
    }

    /// Returns every node and separator to `arena` (not the entries).
    func release(arena: inout EntryArena) {
        release(root, level: 0, &arena)
    }

    private func release(_ node: UnsafeMutableRawPointer, level: Int, _ arena: inout EntryArena) {
        if level == height {
            arena.deallocate(node, byteCount: Leaf.byteCount)
            return
        }
        let inner = Inner(node)
        for index in 0..<inner.count {
            release(inner.child(index), level: level + 1, &arena)
            if index > 0 { Self.freeSeparator(inner.separator(index - 1), &arena) }
        }
        arena.deallocate(node, byteCount: Inner.byteCount)
    }
}
