/// An in-memory ordered map from byte keys (in `KeyOrder`) to values: a B+tree whose nodes hold up
/// to 64 sorted entries, so a lookup among a million keys touches four nodes. It is the memory
/// engine's whole state and the `log` engine's keydir.
///
/// Memory layout, chosen for the index's bytes per key and for lookups without reference
/// counting (see `Node`):
/// - a leaf packs its keys into one byte arena, addressed by 8-byte slots (offset and length), so a
///   key costs its bytes plus its slot — no heap object per key;
/// - every node keeps the first eight bytes of each key as a big-endian integer (`KeyPrefix`)
///   beside it, so a binary search compares integers in one contiguous buffer and reads a key's
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

    /// The leaf whose range holds `key`. The map owns every node while this runs, so the walk
    /// holds them unretained.
    @inlinable @inline(__always)
    func leaf(for key: UnsafeRawBufferPointer, _ prefix: UInt64) -> Unmanaged<Node> {
        unowned(unsafe) var node = root
        while !node.isLeaf {
            node = node.children[Self.childIndex(node, key, prefix)]
        }
        return Unmanaged.passUnretained(node)
    }

    /// The value under `key`, or `nil`.
    @inlinable
    public func value(forKey key: UnsafeRawBufferPointer) -> Value? {
        let prefix = KeyPrefix.of(key)
        return leaf(for: key, prefix)._withUnsafeGuaranteedRef { node in
            let (index, found) = Self.search(node, key, prefix)
            return found ? node.values[index] : nil
        }
    }

    /// Calls `body` with the value under `key` in place (`nil` when absent), valid only during
    /// the call: reading it there costs no reference counting.
    @inlinable
    public func withValue<R>(forKey key: UnsafeRawBufferPointer, _ body: (UnsafePointer<Value>?) throws -> R) rethrows -> R {
        let prefix = KeyPrefix.of(key)
        return try leaf(for: key, prefix)._withUnsafeGuaranteedRef { node in
            let (index, found) = Self.search(node, key, prefix)
            return try body(found ? UnsafePointer(node.values + index) : nil)
        }
    }

    @inlinable
    public func value(forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { value(forKey: $0) }
    }

    public subscript(key: [UInt8]) -> Value? {
        value(forKey: key)
    }

    /// Replaces the value of `key` when the key is present; does nothing otherwise. Cheaper than
    /// `insert` for an overwrite: one descent, no split handling.
    /// - Returns: the value replaced, or `nil` when `key` is absent (and nothing changed).
    @inlinable
    public func replaceValue(_ value: Value, forKey key: UnsafeRawBufferPointer) -> Value? {
        let prefix = KeyPrefix.of(key)
        return leaf(for: key, prefix)._withUnsafeGuaranteedRef { node in
            let (index, found) = Self.search(node, key, prefix)
            guard found else { return nil }
            let old = (node.values + index).move()
            (node.values + index).initialize(to: value)
            return old
        }
    }

    // MARK: Insert

    /// Sets the value of `key` (the map copies the key's bytes).
    /// - Returns: the value it replaced, or `nil` when the key is new.
    @inlinable @discardableResult
    public func insert(_ value: Value, forKey key: UnsafeRawBufferPointer) -> Value? {
        let prefix = KeyPrefix.of(key)
        if let leaf = rightmostLeaf, leaf.count < Self.maxLeafEntries, Self.sortsAfterLast(leaf, key, prefix) {
            leaf.insertEntry(key, prefix, value, at: leaf.count)
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

    @inlinable @discardableResult
    public func insert(_ value: Value, forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { insert(value, forKey: $0) }
    }

    /// Whether `key` sorts after the last key of `leaf` (or `leaf` is empty).
    @inlinable @inline(__always)
    static func sortsAfterLast(_ leaf: Node, _ key: UnsafeRawBufferPointer, _ prefix: UInt64) -> Bool {
        let count = leaf.count
        guard count > 0 else { return true }
        let last = leaf.prefixes[count - 1]
        return last < prefix || (last == prefix && KeyOrder.compare(leaf.key(count - 1), key) < 0)
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
            if node.count < Self.maxLeafEntries {
                node.insertEntry(key, prefix, value, at: node.count)
                rightmostLeaf = node
                return .appended
            }
            let leaf = Node(isLeaf: true)
            leaf.insertEntry(key, prefix, value, at: 0)
            rightmostLeaf = leaf
            return .split(Array(key), leaf)
        }
        switch appendIfLast(value, key, prefix, node.children[node.count - 1]) {
        case .notLast: return .notLast
        case .appended: return .appended
        case let .split(separator, child):
            if node.count < Self.maxChildren {
                node.insertSeparator(separator, at: node.separators.count)
                node.insertChild(child, at: node.count)
                return .appended
            }
            let sibling = Node(isLeaf: false)
            sibling.insertChild(child, at: 0)
            return .split(separator, sibling)
        }
    }

    @inlinable
    func growRoot(_ separator: [UInt8], _ sibling: Node) {
        let newRoot = Node(isLeaf: false)
        newRoot.insertChild(root, at: 0)
        newRoot.insertChild(sibling, at: 1)
        newRoot.insertSeparator(separator, at: 0)
        root = newRoot
    }

    @inlinable
    func insert(
        _ value: Value, _ key: UnsafeRawBufferPointer, _ prefix: UInt64, into node: Node
    ) -> (split: ([UInt8], Node)?, replaced: Value?) {
        if node.isLeaf {
            let (index, found) = Self.search(node, key, prefix)
            if found {
                let old = (node.values + index).move()
                (node.values + index).initialize(to: value)
                return (nil, old)
            }
            node.insertEntry(key, prefix, value, at: index)
            guard node.count > Self.maxLeafEntries else { return (nil, nil) }
            if node === rightmostLeaf { rightmostLeaf = nil }
            let right = Node(isLeaf: true)
            node.moveEntries(from: node.count / 2, to: right)
            return ((Array(right.key(0)), right), nil)
        }
        let index = Self.childIndex(node, key, prefix)
        let (split, replaced) = insert(value, key, prefix, into: node.children[index])
        guard let (separator, newChild) = split else { return (nil, replaced) }
        node.insertSeparator(separator, at: index)
        node.insertChild(newChild, at: index + 1)
        guard node.count > Self.maxChildren else { return (nil, replaced) }
        let middle = node.separators.count / 2
        let promoted = node.separators[middle]
        let right = Node(isLeaf: false)
        node.moveChildren(from: middle + 1, to: right)
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
        while !root.isLeaf && root.count == 1 {
            root = root.children[0]
        }
        if !root.isLeaf && root.count == 0 {
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
        if child.count < Self.minEntries {
            rebalance(node, underfullChild: index)
        }
        return removed
    }

    /// Merges an underfull child into a neighbour when both fit in one node; drops it when empty.
    @usableFromInline
    func rebalance(_ node: Node, underfullChild index: Int) {
        let child = node.children[index]
        if node.count == 1 {
            if child.count == 0 { node.removeChild(at: 0) }
            return
        }
        let leftIndex = index + 1 < node.count ? index : index - 1
        let left = node.children[leftIndex]
        let right = node.children[leftIndex + 1]
        let limit = left.isLeaf ? Self.maxLeafEntries : Self.maxChildren
        guard left.count + right.count <= limit else { return }
        if left.isLeaf {
            right.moveEntries(from: 0, to: left)
        } else if right.count > 0 {
            // An emptied internal node contributes nothing, not even its separator; otherwise the
            // separator between the two comes down between their children.
            if left.count > 0 { left.insertSeparator(node.separators[leftIndex], at: left.separators.count) }
            for separator in right.separators { left.insertSeparator(separator, at: left.separators.count) }
            (left.children + left.count).moveInitialize(from: right.children, count: right.count)
            left.count += right.count
            right.count = 0
            right.separators.removeAll()
        }
        node.removeChild(at: leftIndex + 1)
        node.removeSeparator(at: leftIndex)
        if left.count == 0 {
            node.removeChild(at: leftIndex)
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
        try forEachEntry(from: start) { key, value in try body(key, value.pointee) }
    }

    @inlinable
    public func forEach(from start: [UInt8], _ body: (UnsafeRawBufferPointer, Value) throws -> Bool) rethrows {
        try start.withUnsafeBytes { try forEach(from: $0, body) }
    }

    /// `forEach` handing each value by pointer, valid only during the call: a scan that reads
    /// the value in place (copies its bytes out) then costs no reference counting per entry,
    /// where passing a value that holds a reference retains and releases it.
    @inlinable
    public func forEachEntry(
        from start: UnsafeRawBufferPointer?, _ body: (UnsafeRawBufferPointer, UnsafePointer<Value>) throws -> Bool
    ) rethrows {
        _ = try visit(Unmanaged.passUnretained(root), from: start, start.map(KeyPrefix.of) ?? 0, body)
    }

    /// Walks the subtree unretained: the map owns every node while a visit runs (see `leaf(for:)`).
    @inlinable
    func visit(
        _ unmanaged: Unmanaged<Node>, from start: UnsafeRawBufferPointer?, _ prefix: UInt64,
        _ body: (UnsafeRawBufferPointer, UnsafePointer<Value>) throws -> Bool
    ) rethrows -> Bool {
        try unmanaged._withUnsafeGuaranteedRef { node in
            if node.isLeaf {
                let first = start.map { Self.search(node, $0, prefix).index } ?? 0
                for index in first..<node.count {
                    if try !body(node.key(index), UnsafePointer(node.values + index)) { return false }
                }
                return true
            }
            let first = start.map { Self.childIndex(node, $0, prefix) } ?? 0
            for index in first..<node.count {
                unowned(unsafe) let child = node.children[index]
                if try !visit(Unmanaged.passUnretained(child), from: index == first ? start : nil, prefix, body) {
                    return false
                }
            }
            return true
        }
    }

    /// Lets `body` change every value in place, in ascending key order.
    @inlinable
    public func updateAll(_ body: (UnsafeRawBufferPointer, inout Value) throws -> Void) rethrows {
        try update(root, body)
    }

    @inlinable
    func update(_ node: Node, _ body: (UnsafeRawBufferPointer, inout Value) throws -> Void) rethrows {
        if node.isLeaf {
            for index in 0..<node.count { try body(node.key(index), &node.values[index]) }
        } else {
            for index in 0..<node.count { try update(node.children[index], body) }
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

    /// Index of the first key ≥ `key` (leaf keys, or an internal node's separators), and whether
    /// it is equal. Compares the 8-byte prefixes and reads the full keys only when they tie.
    @inlinable @inline(__always)
    static func search(_ node: Node, _ key: UnsafeRawBufferPointer, _ prefix: UInt64) -> (index: Int, found: Bool) {
        let prefixes = node.prefixes
        var low = 0
        var high = node.isLeaf ? node.count : node.separators.count
        while low < high {
            let middle = (low &+ high) >> 1
            let candidate = prefixes[middle]
            let order: Int
            if candidate != prefix {
                order = candidate < prefix ? -1 : 1
            } else if node.isLeaf {
                order = KeyOrder.compare(node.key(middle), key)
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
