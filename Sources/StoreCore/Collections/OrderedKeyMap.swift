/// An in-memory ordered map from byte keys (in `KeyOrder`) to values: a B+tree whose nodes hold up
/// to 64 sorted entries, so a lookup among a million keys touches four nodes. It is the memory
/// engine's whole state and the `log` engine's keydir.
///
/// Memory layout, chosen for the index's bytes per key:
/// - a leaf packs its keys into one byte arena, addressed by 8-byte slots (offset and length), so a
///   key costs its bytes plus its slot — no heap object per key;
/// - every node keeps the first eight bytes of each key as a big-endian integer (`KeyPrefix`)
///   beside it, so a binary search compares integers in one contiguous array and reads a key's
///   bytes only when two prefixes tie;
/// - keys that arrive in ascending order are appended to the rightmost leaf without a search,
///   and fill nodes completely instead of leaving them half full after each split.
///
/// Deleting merges an underfull node into a sibling when both fit in one node, and a leaf rewrites
/// its arena once more than half of it is garbage, so memory shrinks with the map.
///
/// Keys handed to `forEach` and `updateAll` are valid only during the call, and the map must not
/// be changed from inside them.
///
/// - Complexity: lookup, insert and remove O(log n); a scan O(log n + k) for k entries.
public final class OrderedKeyMap<Value> {
    @usableFromInline
    final class Node {
        @usableFromInline let isLeaf: Bool
        /// Leaf: key bytes, in insertion order; `slots` says where each key is.
        @usableFromInline var arena: [UInt8] = []
        /// Leaf: `offset | length << 32` of each key in `arena`, in key order.
        @usableFromInline var slots: [UInt64] = []
        /// Leaf: arena bytes no slot refers to any more.
        @usableFromInline var garbage = 0
        @usableFromInline var values: [Value] = []
        /// Internal: `separators[i]` ≤ every key of `children[i + 1]`, > every key of `children[i]`.
        @usableFromInline var separators: [[UInt8]] = []
        @usableFromInline var children: [Node] = []
        /// `KeyPrefix` of each leaf key or separator, in step with them.
        @usableFromInline var prefixes: [UInt64] = []

        @usableFromInline
        init(isLeaf: Bool) {
            self.isLeaf = isLeaf
        }

        @usableFromInline var entryCount: Int { isLeaf ? slots.count : children.count }

        /// Calls `body` with the bytes of leaf key `index`.
        @inlinable @inline(__always)
        func withKey<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            let slot = slots[index]
            let start = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF)
            let end = start + Int(truncatingIfNeeded: slot >> 32)
            return try arena.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
        }

        @inlinable
        func insertEntry(_ key: UnsafeRawBufferPointer, _ prefix: UInt64, _ value: Value, at index: Int) {
            let start = arena.count
            arena.append(contentsOf: key)
            if index == slots.count {
                slots.append(UInt64(start) | UInt64(key.count) << 32)
                prefixes.append(prefix)
                values.append(value)
            } else {
                slots.insert(UInt64(start) | UInt64(key.count) << 32, at: index)
                prefixes.insert(prefix, at: index)
                values.insert(value, at: index)
            }
        }

        @inlinable
        func removeEntry(at index: Int) -> Value {
            garbage += Int(truncatingIfNeeded: slots[index] >> 32)
            slots.remove(at: index)
            prefixes.remove(at: index)
            let value = values.remove(at: index)
            if garbage > 512 && garbage * 2 > arena.count { compactArena() }
            return value
        }

        /// Rewrites the arena with only the keys the slots refer to, in key order.
        @usableFromInline
        func compactArena() {
            var packed: [UInt8] = []
            packed.reserveCapacity(arena.count - garbage)
            for index in slots.indices {
                let start = packed.count
                withKey(index) { packed.append(contentsOf: $0) }
                slots[index] = UInt64(start) | (slots[index] >> 32) << 32
            }
            arena = packed
            garbage = 0
        }

        /// Moves leaf entries from `index` on to the end of `other`.
        @usableFromInline
        func moveEntries(from index: Int, to other: Node) {
            for position in index..<slots.count {
                withKey(position) { other.insertEntry($0, prefixes[position], values[position], at: other.slots.count) }
                garbage += Int(truncatingIfNeeded: slots[position] >> 32)
            }
            slots.removeSubrange(index...)
            prefixes.removeSubrange(index...)
            values.removeSubrange(index...)
            if garbage > 0 { compactArena() }
        }

        @inlinable
        func insertSeparator(_ separator: [UInt8], at index: Int) {
            separators.insert(separator, at: index)
            prefixes.insert(KeyPrefix.of(separator), at: index)
        }

        @inlinable
        func removeSeparator(at index: Int) {
            separators.remove(at: index)
            prefixes.remove(at: index)
        }
    }

    @usableFromInline static var maxLeafEntries: Int { 64 }
    @usableFromInline static var maxChildren: Int { 64 }
    @usableFromInline static var minEntries: Int { 16 }

    @usableFromInline var root = Node(isLeaf: true)
    @usableFromInline var _count = 0
    /// The rightmost leaf while known: ascending appends go straight to it. Cleared by anything
    /// that could replace it (a split through the general path, a removal).
    @usableFromInline var rightmostLeaf: Node?

    public init() {}

    /// Number of entries.
    public var count: Int { _count }
    public var isEmpty: Bool { _count == 0 }

    // MARK: Lookup

    /// The value under `key`, or `nil`.
    @inlinable
    public func value(forKey key: UnsafeRawBufferPointer) -> Value? {
        let prefix = KeyPrefix.of(key)
        // The map owns every node while this runs: walking without retaining them saves two
        // atomic operations per level.
        unowned(unsafe) var node = root
        while !node.isLeaf {
            node = node.children.withUnsafeBufferPointer { $0[Self.childIndex(node, key, prefix)] }
        }
        let (index, found) = Self.search(node, key, prefix)
        return found ? node.values[index] : nil
    }

    @inlinable
    public func value(forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { value(forKey: $0) }
    }

    /// Replaces the value of `key` when the key is present; does nothing otherwise. Cheaper than
    /// `insert` for an overwrite: one descent, no split handling.
    /// - Returns: the value replaced, or `nil` when `key` is absent (and nothing changed).
    @inlinable
    public func replaceValue(_ value: Value, forKey key: UnsafeRawBufferPointer) -> Value? {
        let prefix = KeyPrefix.of(key)
        unowned(unsafe) var node = root
        while !node.isLeaf {
            node = node.children.withUnsafeBufferPointer { $0[Self.childIndex(node, key, prefix)] }
        }
        let (index, found) = Self.search(node, key, prefix)
        guard found else { return nil }
        return node.values.withUnsafeMutableBufferPointer { values in
            let old = values[index]
            values[index] = value
            return old
        }
    }

    public subscript(key: [UInt8]) -> Value? {
        value(forKey: key)
    }

    // MARK: Insert

    /// Sets the value of `key` (the map copies the key's bytes).
    /// - Returns: the value it replaced, or `nil` when the key is new.
    @inlinable @discardableResult
    public func insert(_ value: Value, forKey key: UnsafeRawBufferPointer) -> Value? {
        let prefix = KeyPrefix.of(key)
        if let leaf = rightmostLeaf, leaf.slots.count < Self.maxLeafEntries, Self.sortsAfterLast(leaf, key, prefix) {
            leaf.insertEntry(key, prefix, value, at: leaf.slots.count)
            _count += 1
            return nil
        }
        switch appendIfLast(value, key, prefix, root) {
        case .appended:
            _count += 1
            return nil
        case let .split(separator, sibling):
            _count += 1
            growRoot(separator, sibling)
            return nil
        case .notLast:
            break
        }
        let (split, replaced) = insert(value, key, prefix, into: root)
        if replaced == nil { _count += 1 }
        if let (separator, right) = split { growRoot(separator, right) }
        return replaced
    }

    /// Whether `key` sorts after the last key of `leaf` (or `leaf` is empty).
    @inlinable @inline(__always)
    static func sortsAfterLast(_ leaf: Node, _ key: UnsafeRawBufferPointer, _ prefix: UInt64) -> Bool {
        let count = leaf.slots.count
        guard count > 0 else { return true }
        let last = leaf.prefixes[count - 1]
        return last < prefix || (last == prefix && leaf.withKey(count - 1, { KeyOrder.compare($0, key) }) < 0)
    }

    @inlinable @discardableResult
    public func insert(_ value: Value, forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { insert(value, forKey: $0) }
    }

    @usableFromInline
    enum AppendOutcome {
        case notLast
        case appended
        /// Appended, and the node overflowed into a new right sibling to link into its parent.
        case split([UInt8], Node)
    }

    /// Puts `key` at the right end of the tree when it sorts after every key present (the
    /// rightmost leaf holds the largest keys and is never empty while the map is not).
    @inlinable
    func appendIfLast(_ value: Value, _ key: UnsafeRawBufferPointer, _ prefix: UInt64, _ node: Node) -> AppendOutcome {
        if node.isLeaf {
            guard Self.sortsAfterLast(node, key, prefix) else { return .notLast }
            if node.slots.count < Self.maxLeafEntries {
                node.insertEntry(key, prefix, value, at: node.slots.count)
                rightmostLeaf = node
                return .appended
            }
            let leaf = Node(isLeaf: true)
            leaf.insertEntry(key, prefix, value, at: 0)
            rightmostLeaf = leaf
            return .split(Array(key), leaf)
        }
        switch appendIfLast(value, key, prefix, node.children[node.children.count - 1]) {
        case .notLast: return .notLast
        case .appended: return .appended
        case let .split(separator, child):
            if node.children.count < Self.maxChildren {
                node.insertSeparator(separator, at: node.separators.count)
                node.children.append(child)
                return .appended
            }
            let sibling = Node(isLeaf: false)
            sibling.children = [child]
            return .split(separator, sibling)
        }
    }

    @inlinable
    func growRoot(_ separator: [UInt8], _ sibling: Node) {
        let newRoot = Node(isLeaf: false)
        newRoot.insertSeparator(separator, at: 0)
        newRoot.children = [root, sibling]
        root = newRoot
    }

    @inlinable
    func insert(
        _ value: Value, _ key: UnsafeRawBufferPointer, _ prefix: UInt64, into node: Node
    ) -> (split: ([UInt8], Node)?, replaced: Value?) {
        if node.isLeaf {
            let (index, found) = Self.search(node, key, prefix)
            if found {
                let old = node.values[index]
                node.values[index] = value
                return (nil, old)
            }
            node.insertEntry(key, prefix, value, at: index)
            guard node.slots.count > Self.maxLeafEntries else { return (nil, nil) }
            if node === rightmostLeaf { rightmostLeaf = nil }
            let right = Node(isLeaf: true)
            node.moveEntries(from: node.slots.count / 2, to: right)
            return ((right.withKey(0) { Array($0) }, right), nil)
        }
        let index = Self.childIndex(node, key, prefix)
        let (split, replaced) = insert(value, key, prefix, into: node.children[index])
        guard let (separator, newChild) = split else { return (nil, replaced) }
        node.insertSeparator(separator, at: index)
        node.children.insert(newChild, at: index + 1)
        guard node.children.count > Self.maxChildren else { return (nil, replaced) }
        let middle = node.separators.count / 2
        let promoted = node.separators[middle]
        let right = Node(isLeaf: false)
        right.separators = Array(node.separators[(middle + 1)...])
        right.prefixes = Array(node.prefixes[(middle + 1)...])
        right.children = Array(node.children[(middle + 1)...])
        node.separators.removeSubrange(middle...)
        node.prefixes.removeSubrange(middle...)
        node.children.removeSubrange((middle + 1)...)
        return ((promoted, right), replaced)
    }

    // MARK: Remove

    /// Removes `key`.
    /// - Returns: the value it had, or `nil` when it was absent.
    @inlinable @discardableResult
    public func removeValue(forKey key: UnsafeRawBufferPointer) -> Value? {
        rightmostLeaf = nil
        let removed = remove(key, KeyPrefix.of(key), from: root)
        if removed != nil { _count -= 1 }
        while !root.isLeaf && root.children.count == 1 {
            root = root.children[0]
        }
        if !root.isLeaf && root.children.isEmpty {
            root = Node(isLeaf: true)
        }
        return removed
    }

    @inlinable @discardableResult
    public func removeValue(forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { removeValue(forKey: $0) }
    }

    @inlinable
    func remove(_ key: UnsafeRawBufferPointer, _ prefix: UInt64, from node: Node) -> Value? {
        if node.isLeaf {
            let (index, found) = Self.search(node, key, prefix)
            return found ? node.removeEntry(at: index) : nil
        }
        let index = Self.childIndex(node, key, prefix)
        let child = node.children[index]
        guard let removed = remove(key, prefix, from: child) else { return nil }
        if child.entryCount < Self.minEntries {
            rebalance(node, underfullChild: index)
        }
        return removed
    }

    /// Merges an underfull child into a neighbour when both fit in one node; drops it when empty.
    @usableFromInline
    func rebalance(_ node: Node, underfullChild index: Int) {
        let child = node.children[index]
        if node.children.count == 1 {
            if child.entryCount == 0 { node.children.removeAll() }
            return
        }
        let leftIndex = index + 1 < node.children.count ? index : index - 1
        let left = node.children[leftIndex]
        let right = node.children[leftIndex + 1]
        let limit = left.isLeaf ? Self.maxLeafEntries : Self.maxChildren
        guard left.entryCount + right.entryCount <= limit else { return }
        if left.isLeaf {
            right.moveEntries(from: 0, to: left)
        } else if right.children.isEmpty {
            // An emptied internal node contributes nothing, not even its separator.
        } else if left.children.isEmpty {
            left.separators = right.separators
            left.prefixes = right.prefixes
            left.children = right.children
        } else {
            left.insertSeparator(node.separators[leftIndex], at: left.separators.count)
            left.separators.append(contentsOf: right.separators)
            left.prefixes.append(contentsOf: right.prefixes)
            left.children.append(contentsOf: right.children)
        }
        node.children.remove(at: leftIndex + 1)
        node.removeSeparator(at: leftIndex)
        if left.entryCount == 0 {
            node.children.remove(at: leftIndex)
            if !node.separators.isEmpty { node.removeSeparator(at: Swift.max(0, leftIndex - 1)) }
        }
    }

    public func removeAll() {
        rightmostLeaf = nil
        root = Node(isLeaf: true)
        _count = 0
    }

    // MARK: Ordered traversal

    /// Visits entries with keys ≥ `start` (all entries when `start` is `nil`) in ascending order
    /// until `body` returns `false`.
    @inlinable
    public func forEach(
        from start: UnsafeRawBufferPointer?, _ body: (UnsafeRawBufferPointer, Value) throws -> Bool
    ) rethrows {
        _ = try visit(root, from: start, start.map(KeyPrefix.of) ?? 0, body)
    }

    @inlinable
    public func forEach(from start: [UInt8], _ body: (UnsafeRawBufferPointer, Value) throws -> Bool) rethrows {
        try start.withUnsafeBytes { try forEach(from: $0, body) }
    }

    @inlinable
    func visit(
        _ node: Node, from start: UnsafeRawBufferPointer?, _ prefix: UInt64,
        _ body: (UnsafeRawBufferPointer, Value) throws -> Bool
    ) rethrows -> Bool {
        if node.isLeaf {
            let first = start.map { Self.search(node, $0, prefix).index } ?? 0
            return try node.arena.withUnsafeBytes { arena in
                for index in first..<node.slots.count {
                    let slot = node.slots[index]
                    let offset = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF)
                    let key = UnsafeRawBufferPointer(rebasing: arena[offset..<(offset + Int(truncatingIfNeeded: slot >> 32))])
                    if try !body(key, node.values[index]) { return false }
                }
                return true
            }
        }
        let first = start.map { Self.childIndex(node, $0, prefix) } ?? 0
        for index in first..<node.children.count {
            if try !visit(node.children[index], from: index == first ? start : nil, prefix, body) {
                return false
            }
        }
        return true
    }

    /// Lets `body` change every value in place, in ascending key order.
    @inlinable
    public func updateAll(_ body: (UnsafeRawBufferPointer, inout Value) throws -> Void) rethrows {
        try update(root, body)
    }

    @inlinable
    func update(_ node: Node, _ body: (UnsafeRawBufferPointer, inout Value) throws -> Void) rethrows {
        if node.isLeaf {
            try node.arena.withUnsafeBytes { arena in
                for index in node.slots.indices {
                    let slot = node.slots[index]
                    let offset = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF)
                    let key = UnsafeRawBufferPointer(rebasing: arena[offset..<(offset + Int(truncatingIfNeeded: slot >> 32))])
                    try body(key, &node.values[index])
                }
            }
        } else {
            for child in node.children { try update(child, body) }
        }
    }

    /// The smallest key, if any.
    public var firstKey: [UInt8]? {
        var result: [UInt8]?
        forEach(from: nil) { key, _ in
            result = Array(key)
            return false
        }
        return result
    }

    // MARK: Search within a node

    /// Index of the first key ≥ `key`, and whether it is equal. Compares the 8-byte prefixes and
    /// reads the full keys only when the prefixes tie.
    @inlinable @inline(__always)
    static func search(_ node: Node, _ key: UnsafeRawBufferPointer, _ prefix: UInt64) -> (index: Int, found: Bool) {
        node.prefixes.withUnsafeBufferPointer { prefixes in
            var low = 0
            var high = prefixes.count
            while low < high {
                let middle = (low &+ high) >> 1
                let candidate = prefixes[middle]
                let order: Int
                if candidate != prefix {
                    order = candidate < prefix ? -1 : 1
                } else if node.isLeaf {
                    order = node.withKey(middle) { KeyOrder.compare($0, key) }
                } else {
                    order = node.separators[middle].withUnsafeBytes { KeyOrder.compare($0, key) }
                }
                if order < 0 {
                    low = middle + 1
                } else if order == 0 {
                    return (middle, true)
                } else {
                    high = middle
                }
            }
            return (low, false)
        }
    }

    /// The child of an internal node whose range holds `key`: the number of separators ≤ `key`.
    @inlinable @inline(__always)
    static func childIndex(_ node: Node, _ key: UnsafeRawBufferPointer, _ prefix: UInt64) -> Int {
        let (index, found) = search(node, key, prefix)
        return found ? index + 1 : index
    }
}

/// The first eight bytes of a key as a big-endian integer, zero-padded: integer order of prefixes
/// agrees with `KeyOrder` whenever the prefixes differ.
public enum KeyPrefix {
    @inlinable @inline(__always)
    public static func of(_ key: UnsafeRawBufferPointer) -> UInt64 {
        if key.count >= 8 {
            return UInt64(bigEndian: key.loadUnaligned(as: UInt64.self))
        }
        var prefix: UInt64 = 0
        for index in 0..<key.count {
            prefix |= UInt64(key[index]) << (56 - 8 * UInt64(index))
        }
        return prefix
    }

    @inlinable @inline(__always)
    public static func of(_ key: [UInt8]) -> UInt64 {
        key.withUnsafeBytes { of($0) }
    }
}
