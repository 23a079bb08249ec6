/// An in-memory ordered map from byte keys (in `KeyOrder`) to values: a B+tree whose nodes hold up
/// to 64 sorted keys, so a lookup among a million keys touches four nodes. It is the memory
/// engine's whole state and the building block for in-memory indexes of the other engines.
///
/// Deleting merges an underfull node into a sibling when both fit in one node, so memory shrinks
/// with the map.
///
/// Each node keeps the first eight bytes of every key as a big-endian integer beside the key, so a
/// binary search compares integers in one contiguous array and follows a key's pointer only when
/// two prefixes are equal. Without it every comparison is a cache miss on a separate heap array.
///
/// - Complexity: lookup, insert and remove O(log n); a scan O(log n + k) for k entries.
public final class OrderedKeyMap<Value> {
    @usableFromInline
    final class Node {
        @usableFromInline let isLeaf: Bool
        /// Leaf: the entries' keys. Internal: separators, `keys[i]` ≤ every key of `children[i+1]`.
        @usableFromInline var keys: [[UInt8]] = []
        /// `KeyPrefix.of(keys[i])`, kept in step with `keys`.
        @usableFromInline var prefixes: [UInt64] = []
        @usableFromInline var values: [Value] = []
        @usableFromInline var children: [Node] = []

        @usableFromInline
        init(isLeaf: Bool) {
            self.isLeaf = isLeaf
        }

        @usableFromInline var entryCount: Int { isLeaf ? keys.count : children.count }

        @inlinable
        func insertKey(_ key: [UInt8], at index: Int) {
            keys.insert(key, at: index)
            prefixes.insert(KeyPrefix.of(key), at: index)
        }

        @inlinable
        func removeKey(at index: Int) {
            keys.remove(at: index)
            prefixes.remove(at: index)
        }

        /// Moves keys from `index` on (and the matching values or children from `childIndex` on)
        /// into `right`.
        @inlinable
        func moveTail(keysFrom index: Int, to right: Node) {
            right.keys = Array(keys[index...])
            right.prefixes = Array(prefixes[index...])
            keys.removeSubrange(index...)
            prefixes.removeSubrange(index...)
        }

        @inlinable
        func appendKeys(of other: Node) {
            keys.append(contentsOf: other.keys)
            prefixes.append(contentsOf: other.prefixes)
        }
    }

    @usableFromInline static var maxLeafEntries: Int { 64 }
    @usableFromInline static var maxChildren: Int { 64 }
    @usableFromInline static var minEntries: Int { 16 }

    @usableFromInline var root = Node(isLeaf: true)
    @usableFromInline var _count = 0
    /// Number of entries.
    public var count: Int { _count }

    public init() {}

    public var isEmpty: Bool { count == 0 }

    // MARK: Lookup

    /// The value under `key`, or `nil`.
    @inlinable
    public func value(forKey key: UnsafeRawBufferPointer) -> Value? {
        let prefix = KeyPrefix.of(key)
        var node = root
        while !node.isLeaf {
            node = node.children[Self.childIndex(node, key, prefix)]
        }
        let (index, found) = Self.search(node, key, prefix)
        return found ? node.values[index] : nil
    }

    @inlinable
    public func value(forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { value(forKey: $0) }
    }

    public subscript(key: [UInt8]) -> Value? {
        value(forKey: key)
    }

    // MARK: Insert

    /// Sets the value of `key`.
    /// - Returns: the value it replaced, or `nil` when the key is new.
    @inlinable @discardableResult
    public func insert(_ value: Value, forKey key: [UInt8]) -> Value? {
        // Keys arriving in ascending order (loading sorted hints, sequential fills) skip the
        // search and leave every node full instead of half full after each split.
        switch appendIfLast(value, key, root) {
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
        let (split, replaced) = key.withUnsafeBytes { insert(value, key, $0, KeyPrefix.of($0), into: root) }
        if replaced == nil { _count += 1 }
        if let (separator, right) = split { growRoot(separator, right) }
        return replaced
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
    func appendIfLast(_ value: Value, _ key: [UInt8], _ node: Node) -> AppendOutcome {
        if node.isLeaf {
            if let last = node.keys.last, KeyOrder.compare(last, key) >= 0 { return .notLast }
            if node.keys.count < Self.maxLeafEntries {
                node.insertKey(key, at: node.keys.count)
                node.values.append(value)
                return .appended
            }
            let leaf = Node(isLeaf: true)
            leaf.insertKey(key, at: 0)
            leaf.values = [value]
            return .split(key, leaf)
        }
        switch appendIfLast(value, key, node.children[node.children.count - 1]) {
        case .notLast: return .notLast
        case .appended: return .appended
        case let .split(separator, child):
            if node.children.count < Self.maxChildren {
                node.insertKey(separator, at: node.keys.count)
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
        newRoot.insertKey(separator, at: 0)
        newRoot.children = [root, sibling]
        root = newRoot
    }

    @inlinable
    func insert(
        _ value: Value, _ key: [UInt8], _ probe: UnsafeRawBufferPointer, _ prefix: UInt64, into node: Node
    ) -> (split: ([UInt8], Node)?, replaced: Value?) {
        if node.isLeaf {
            let (index, found) = Self.search(node, probe, prefix)
            if found {
                let old = node.values[index]
                node.values[index] = value
                return (nil, old)
            }
            node.insertKey(key, at: index)
            node.values.insert(value, at: index)
            guard node.keys.count > Self.maxLeafEntries else { return (nil, nil) }
            let middle = node.keys.count / 2
            let right = Node(isLeaf: true)
            node.moveTail(keysFrom: middle, to: right)
            right.values = Array(node.values[middle...])
            node.values.removeSubrange(middle...)
            return ((right.keys[0], right), nil)
        }
        let index = Self.childIndex(node, probe, prefix)
        let (split, replaced) = insert(value, key, probe, prefix, into: node.children[index])
        guard let (separator, newChild) = split else { return (nil, replaced) }
        node.insertKey(separator, at: index)
        node.children.insert(newChild, at: index + 1)
        guard node.children.count > Self.maxChildren else { return (nil, replaced) }
        let middle = node.keys.count / 2
        let promoted = node.keys[middle]
        let right = Node(isLeaf: false)
        node.moveTail(keysFrom: middle + 1, to: right)
        node.removeKey(at: middle)
        right.children = Array(node.children[(middle + 1)...])
        node.children.removeSubrange((middle + 1)...)
        return ((promoted, right), replaced)
    }

    // MARK: Remove

    /// Removes `key`.
    /// - Returns: the value it had, or `nil` when it was absent.
    @inlinable @discardableResult
    public func removeValue(forKey key: [UInt8]) -> Value? {
        let removed = key.withUnsafeBytes { remove($0, KeyPrefix.of($0), from: root) }
        if removed != nil { _count -= 1 }
        while !root.isLeaf && root.children.count == 1 {
            root = root.children[0]
        }
        if !root.isLeaf && root.children.isEmpty {
            root = Node(isLeaf: true)
        }
        return removed
    }

    @inlinable
    func remove(_ key: UnsafeRawBufferPointer, _ prefix: UInt64, from node: Node) -> Value? {
        if node.isLeaf {
            let (index, found) = Self.search(node, key, prefix)
            guard found else { return nil }
            node.removeKey(at: index)
            return node.values.remove(at: index)
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
    @inlinable
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
            left.appendKeys(of: right)
            left.values.append(contentsOf: right.values)
        } else if right.children.isEmpty {
            // An emptied internal node contributes nothing, not even its separator.
        } else if left.children.isEmpty {
            left.keys = right.keys
            left.prefixes = right.prefixes
            left.children = right.children
        } else {
            left.insertKey(node.keys[leftIndex], at: left.keys.count)
            left.appendKeys(of: right)
            left.children.append(contentsOf: right.children)
        }
        node.children.remove(at: leftIndex + 1)
        node.removeKey(at: leftIndex)
        if left.entryCount == 0 {
            node.children.remove(at: leftIndex)
            if !node.keys.isEmpty { node.removeKey(at: Swift.max(0, leftIndex - 1)) }
        }
    }

    public func removeAll() {
        root = Node(isLeaf: true)
        _count = 0
    }

    // MARK: Ordered traversal

    /// Visits entries with keys ≥ `start` (all entries when `start` is `nil`) in ascending order
    /// until `body` returns `false`.
    @inlinable
    public func forEach(
        from start: UnsafeRawBufferPointer?, _ body: ([UInt8], Value) throws -> Bool
    ) rethrows {
        _ = try visit(root, from: start, body)
    }

    @inlinable
    public func forEach(from start: [UInt8], _ body: ([UInt8], Value) throws -> Bool) rethrows {
        try start.withUnsafeBytes { try forEach(from: $0, body) }
    }

    @inlinable
    func visit(
        _ node: Node, from start: UnsafeRawBufferPointer?, _ body: ([UInt8], Value) throws -> Bool
    ) rethrows -> Bool {
        if node.isLeaf {
            let first = start.map { Self.search(node, $0, KeyPrefix.of($0)).index } ?? 0
            for index in first..<node.keys.count {
                if try !body(node.keys[index], node.values[index]) { return false }
            }
            return true
        }
        let first = start.map { Self.childIndex(node, $0, KeyPrefix.of($0)) } ?? 0
        for index in first..<node.children.count {
            if try !visit(node.children[index], from: index == first ? start : nil, body) {
                return false
            }
        }
        return true
    }

    /// Lets `body` change every value in place, in ascending key order.
    @inlinable
    public func updateAll(_ body: ([UInt8], inout Value) throws -> Void) rethrows {
        try update(root, body)
    }

    @inlinable
    func update(_ node: Node, _ body: ([UInt8], inout Value) throws -> Void) rethrows {
        if node.isLeaf {
            for index in node.keys.indices { try body(node.keys[index], &node.values[index]) }
        } else {
            for child in node.children { try update(child, body) }
        }
    }

    /// The smallest key, if any.
    public var firstKey: [UInt8]? {
        var result: [UInt8]?
        forEach(from: nil) { key, _ in
            result = key
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
                } else {
                    order = node.keys[middle].withUnsafeBytes { KeyOrder.compare($0, key) }
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
