#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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
/// Not thread-safe: `MemoryStore` holds its lock around every call (shared for `forEach`).
struct EntryTree {
    private var root: UnsafeMutableRawPointer
    /// Internal levels above the leaves (0: the root is a leaf).
    private var height = 0
    private(set) var count = 0

    init(arena: inout EntryArena) {
        root = Leaf.make(&arena)
    }

    // MARK: Keys

    /// A key with its first 16 bytes as integers (zero-padded, big-endian): integer order agrees
    /// with byte order whenever they differ.
    struct Probe {
        let key: UnsafeRawBufferPointer
        let high: UInt64
        let low: UInt64

        @inline(__always)
        init(_ key: UnsafeRawBufferPointer) {
            self.key = key
            high = KeyPrefix.of(key)
            low = key.count > 8 ? KeyPrefix.of(UnsafeRawBufferPointer(rebasing: key[8...])) : 0
        }
    }

    /// Negative, zero or positive as `probe` sorts before, equal to or after the stored key.
    @inline(__always)
    static func compare(_ probe: Probe, _ high: UInt64, _ low: UInt64, _ key: () -> UnsafeRawBufferPointer) -> Int {
        if probe.high != high { return probe.high < high ? -1 : 1 }
        if probe.low != low { return probe.low < low ? -1 : 1 }
        return KeyOrder.compare(probe.key, key())
    }

    // MARK: Nodes

    /// A leaf: count, next and previous leaf, then `slots` highs, lows and entry pointers.
    struct Leaf {
        let base: UnsafeMutableRawPointer
        static var capacity: Int { 64 }
        /// One more than the capacity: a full leaf takes the new entry, then splits.
        static var slots: Int { 65 }
        static var byteCount: Int { 32 + 24 * slots }

        init(_ base: UnsafeMutableRawPointer) { self.base = base }

        static func make(_ arena: inout EntryArena) -> UnsafeMutableRawPointer {
            let base = arena.allocate(byteCount)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
            return base
        }

        @inline(__always) var count: Int {
            get { base.load(as: Int.self) }
            nonmutating set { base.storeBytes(of: newValue, as: Int.self) }
        }
        @inline(__always) var next: UnsafeMutableRawPointer? {
            get { base.load(fromByteOffset: 8, as: UnsafeMutableRawPointer?.self) }
            nonmutating set { base.storeBytes(of: newValue, toByteOffset: 8, as: UnsafeMutableRawPointer?.self) }
        }
        @inline(__always) var previous: UnsafeMutableRawPointer? {
            get { base.load(fromByteOffset: 16, as: UnsafeMutableRawPointer?.self) }
            nonmutating set { base.storeBytes(of: newValue, toByteOffset: 16, as: UnsafeMutableRawPointer?.self) }
        }
        @inline(__always) var highs: UnsafeMutableRawPointer { base + 32 }
        @inline(__always) var lows: UnsafeMutableRawPointer { base + 32 + 8 * Self.slots }
        @inline(__always) var entries: UnsafeMutableRawPointer { base + 32 + 16 * Self.slots }

        @inline(__always) func high(_ index: Int) -> UInt64 { highs.load(fromByteOffset: 8 * index, as: UInt64.self) }
        @inline(__always) func low(_ index: Int) -> UInt64 { lows.load(fromByteOffset: 8 * index, as: UInt64.self) }
        @inline(__always) func entry(_ index: Int) -> MemoryEntry {
            MemoryEntry(entries.load(fromByteOffset: 8 * index, as: UnsafeMutableRawPointer.self))
        }
        @inline(__always) func setEntry(_ index: Int, _ entry: MemoryEntry) {
            entries.storeBytes(of: entry.base, toByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
        }

        /// The first slot whose key is ≥ `probe`, and whether it is equal.
        @inline(__always)
        func lowerBound(_ probe: Probe) -> (index: Int, found: Bool) {
            var low = 0
            var high = count
            while low < high {
                let middle = (low + high) >> 1
                let order = EntryTree.compare(probe, self.high(middle), self.low(middle)) { entry(middle).key }
                if order == 0 { return (middle, true) }
                if order > 0 { low = middle + 1 } else { high = middle }
            }
            return (low, false)
        }

        /// Opens slot `index` (moving the slots after it) and fills it.
        func insert(_ probe: Probe, _ entry: MemoryEntry, at index: Int) {
            let tail = count - index
            if tail > 0 {
                EntryTree.shift(highs, lows, entries, from: index, to: index + 1, count: tail)
            }
            highs.storeBytes(of: probe.high, toByteOffset: 8 * index, as: UInt64.self)
            lows.storeBytes(of: probe.low, toByteOffset: 8 * index, as: UInt64.self)
            setEntry(index, entry)
            count += 1
        }

        func remove(at index: Int) {
            let tail = count - index - 1
            if tail > 0 {
                EntryTree.shift(highs, lows, entries, from: index + 1, to: index, count: tail)
            }
            count -= 1
        }

        /// Moves slots from `index` on to the empty leaf `other`.
        func move(from index: Int, to other: Leaf) {
            let moved = count - index
            other.highs.copyMemory(from: highs + 8 * index, byteCount: 8 * moved)
            other.lows.copyMemory(from: lows + 8 * index, byteCount: 8 * moved)
            other.entries.copyMemory(from: entries + 8 * index, byteCount: 8 * moved)
            other.count = moved
            count = index
        }
    }

    /// An internal node: child count, then `separatorSlots` highs, lows and separator blocks
    /// (`[length: UInt32][bytes]`), then `separatorSlots + 1` children.
    struct Inner {
        let base: UnsafeMutableRawPointer
        static var capacity: Int { 64 }
        static var separatorSlots: Int { 64 }
        static var byteCount: Int { 16 + 24 * separatorSlots + 8 * (separatorSlots + 1) }

        init(_ base: UnsafeMutableRawPointer) { self.base = base }

        static func make(_ arena: inout EntryArena) -> UnsafeMutableRawPointer {
            let base = arena.allocate(byteCount)
            base.storeBytes(of: 0, as: Int.self)
            return base
        }

        /// Children (separators: one fewer).
        @inline(__always) var count: Int {
            get { base.load(as: Int.self) }
            nonmutating set { base.storeBytes(of: newValue, as: Int.self) }
        }
        @inline(__always) var highs: UnsafeMutableRawPointer { base + 16 }
        @inline(__always) var lows: UnsafeMutableRawPointer { base + 16 + 8 * Self.separatorSlots }
        @inline(__always) var separators: UnsafeMutableRawPointer { base + 16 + 16 * Self.separatorSlots }
        @inline(__always) var children: UnsafeMutableRawPointer { base + 16 + 24 * Self.separatorSlots }

        @inline(__always) func high(_ index: Int) -> UInt64 { highs.load(fromByteOffset: 8 * index, as: UInt64.self) }
        @inline(__always) func low(_ index: Int) -> UInt64 { lows.load(fromByteOffset: 8 * index, as: UInt64.self) }
        @inline(__always) func separator(_ index: Int) -> UnsafeMutableRawPointer {
            separators.load(fromByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
        }
        @inline(__always) func child(_ index: Int) -> UnsafeMutableRawPointer {
            children.load(fromByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
        }
        @inline(__always) func setChild(_ index: Int, _ child: UnsafeMutableRawPointer) {
            children.storeBytes(of: child, toByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
        }

        /// The child whose range holds `probe`: the number of separators ≤ `probe`.
        @inline(__always)
        func childIndex(_ probe: Probe) -> Int {
            var low = 0
            var high = count - 1
            while low < high {
                let middle = (low + high) >> 1
                let order = EntryTree.compare(probe, self.high(middle), self.low(middle)) { EntryTree.separatorKey(separator(middle)) }
                if order >= 0 { low = middle + 1 } else { high = middle }
            }
            return low
        }

        /// Inserts separator `separator` at `index` and `child` after it (at `index + 1`).
        func insert(separator: (high: UInt64, low: UInt64, block: UnsafeMutableRawPointer), child: UnsafeMutableRawPointer, at index: Int) {
            let separatorTail = count - 1 - index
            if separatorTail > 0 {
                EntryTree.shift(highs, lows, separators, from: index, to: index + 1, count: separatorTail)
            }
            highs.storeBytes(of: separator.high, toByteOffset: 8 * index, as: UInt64.self)
            lows.storeBytes(of: separator.low, toByteOffset: 8 * index, as: UInt64.self)
            separators.storeBytes(of: separator.block, toByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
            let childTail = count - (index + 1)
            if childTail > 0 {
                (children + 8 * (index + 2)).copyMemory(from: children + 8 * (index + 1), byteCount: 8 * childTail)
            }
            setChild(index + 1, child)
            count += 1
        }

        /// Removes child `index` and a separator beside it (the one before it, or the first).
        /// - Returns: the separator's block, or nil when the node had one child.
        func removeChild(at index: Int) -> UnsafeMutableRawPointer? {
            let childTail = count - index - 1
            if childTail > 0 { (children + 8 * index).copyMemory(from: children + 8 * (index + 1), byteCount: 8 * childTail) }
            count -= 1
            guard count > 0 else { return nil }
            let removed = max(index - 1, 0)
            let block = separator(removed)
            let separatorTail = count - 1 - removed
            if separatorTail > 0 {
                EntryTree.shift(highs, lows, separators, from: removed + 1, to: removed, count: separatorTail)
            }
            return block
        }
    }

    /// Moves `count` 8-byte slots of three parallel arrays from index `from` to index `to`
    /// (the ranges may overlap).
    @inline(__always)
    static func shift(_ a: UnsafeMutableRawPointer, _ b: UnsafeMutableRawPointer, _ c: UnsafeMutableRawPointer, from: Int, to: Int, count: Int) {
        let bytes = 8 * count
        memmove(a + 8 * to, a + 8 * from, bytes)
        memmove(b + 8 * to, b + 8 * from, bytes)
        memmove(c + 8 * to, c + 8 * from, bytes)
    }

    /// A separator's key bytes.
    @inline(__always)
    static func separatorKey(_ block: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: block + 4, count: Int(block.load(as: UInt32.self)))
    }

    private static func makeSeparator(_ key: UnsafeRawBufferPointer, _ arena: inout EntryArena) -> UnsafeMutableRawPointer {
        let block = arena.allocate(4 + key.count)
        block.storeBytes(of: UInt32(truncatingIfNeeded: key.count), as: UInt32.self)
        if key.count > 0 { (block + 4).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        return block
    }

    private static func freeSeparator(_ block: UnsafeMutableRawPointer, _ arena: inout EntryArena) {
        arena.deallocate(block, byteCount: 4 + Int(block.load(as: UInt32.self)))
    }

    // MARK: Operations

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
            while index < leaf.count {
                if try !body(leaf.entry(index)) { return }
                index += 1
            }
            current = leaf.next
            index = 0
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
