/// An in-memory ordered map from byte keys (in `KeyOrder`) to values: a B+tree whose nodes hold up
/// to 64 sorted keys, so a lookup among a million keys touches four nodes. It is the memory
/// engine's whole state and the building block for in-memory indexes of the other engines.
///
/// Deleting merges an underfull node into a sibling when both fit in one node, so memory shrinks
/// with the map.
///
/// - Complexity: lookup, insert and remove O(log n); a scan O(log n + k) for k entries.
public final class OrderedKeyMap<Value> {
    final class Node {
        let isLeaf: Bool
        /// Leaf: the entries' keys. Internal: separators, `keys[i]` ≤ every key of `children[i+1]`.
        var keys: [[UInt8]] = []
        var values: [Value] = []
        var children: [Node] = []

        init(isLeaf: Bool) {
            self.isLeaf = isLeaf
        }

        var entryCount: Int { isLeaf ? keys.count : children.count }
    }

    static var maxLeafEntries: Int { 64 }
    static var maxChildren: Int { 64 }
    static var minEntries: Int { 16 }

    private var root = Node(isLeaf: true)
    /// Number of entries.
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    // MARK: Lookup

    /// The value under `key`, or `nil`.
    @inline(__always)
    public func value(forKey key: UnsafeRawBufferPointer) -> Value? {
        var node = root
        while !node.isLeaf {
            node = node.children[Self.childIndex(node.keys, key)]
        }
        let (index, found) = Self.search(node.keys, key)
        return found ? node.values[index] : nil
    }

    @inline(__always)
    public func value(forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { value(forKey: $0) }
    }

    public subscript(key: [UInt8]) -> Value? {
        value(forKey: key)
    }

    // MARK: Insert

    /// Sets the value of `key`.
    /// - Returns: the value it replaced, or `nil` when the key is new.
    @discardableResult
    public func insert(_ value: Value, forKey key: [UInt8]) -> Value? {
        let (split, replaced) = key.withUnsafeBytes { insert(value, key, $0, into: root) }
        if replaced == nil { count += 1 }
        if let (separator, right) = split {
            let newRoot = Node(isLeaf: false)
            newRoot.keys = [separator]
            newRoot.children = [root, right]
            root = newRoot
        }
        return replaced
    }

    private func insert(
        _ value: Value, _ key: [UInt8], _ probe: UnsafeRawBufferPointer, into node: Node
    ) -> (split: ([UInt8], Node)?, replaced: Value?) {
        if node.isLeaf {
            let (index, found) = Self.search(node.keys, probe)
            if found {
                let old = node.values[index]
                node.values[index] = value
                return (nil, old)
            }
            node.keys.insert(key, at: index)
            node.values.insert(value, at: index)
            guard node.keys.count > Self.maxLeafEntries else { return (nil, nil) }
            let middle = node.keys.count / 2
            let right = Node(isLeaf: true)
            right.keys = Array(node.keys[middle...])
            right.values = Array(node.values[middle...])
            node.keys.removeSubrange(middle...)
            node.values.removeSubrange(middle...)
            return ((right.keys[0], right), nil)
        }
        let index = Self.childIndex(node.keys, probe)
        let (split, replaced) = insert(value, key, probe, into: node.children[index])
        guard let (separator, newChild) = split else { return (nil, replaced) }
        node.keys.insert(separator, at: index)
        node.children.insert(newChild, at: index + 1)
        guard node.children.count > Self.maxChildren else { return (nil, replaced) }
        let middle = node.keys.count / 2
        let promoted = node.keys[middle]
        let right = Node(isLeaf: false)
        right.keys = Array(node.keys[(middle + 1)...])
        right.children = Array(node.children[(middle + 1)...])
        node.keys.removeSubrange(middle...)
        node.children.removeSubrange((middle + 1)...)
        return ((promoted, right), replaced)
    }

    // MARK: Remove

    /// Removes `key`.
    /// - Returns: the value it had, or `nil` when it was absent.
    @discardableResult
    public func removeValue(forKey key: [UInt8]) -> Value? {
        let removed = key.withUnsafeBytes { remove($0, from: root) }
        if removed != nil { count -= 1 }
        while !root.isLeaf && root.children.count == 1 {
            root = root.children[0]
        }
        if !root.isLeaf && root.children.isEmpty {
            root = Node(isLeaf: true)
        }
        return removed
    }

    private func remove(_ key: UnsafeRawBufferPointer, from node: Node) -> Value? {
        if node.isLeaf {
            let (index, found) = Self.search(node.keys, key)
            guard found else { return nil }
            node.keys.remove(at: index)
            return node.values.remove(at: index)
        }
        let index = Self.childIndex(node.keys, key)
        let child = node.children[index]
        guard let removed = remove(key, from: child) else { return nil }
        if child.entryCount < Self.minEntries {
            rebalance(node, underfullChild: index)
        }
        return removed
    }

    /// Merges an underfull child into a neighbour when both fit in one node; drops it when empty.
    private func rebalance(_ node: Node, underfullChild index: Int) {
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
            left.keys.append(contentsOf: right.keys)
            left.values.append(contentsOf: right.values)
        } else if right.children.isEmpty {
            // An emptied internal node contributes nothing, not even its separator.
        } else if left.children.isEmpty {
            left.keys = right.keys
            left.children = right.children
        } else {
            left.keys.append(node.keys[leftIndex])
            left.keys.append(contentsOf: right.keys)
            left.children.append(contentsOf: right.children)
        }
        node.children.remove(at: leftIndex + 1)
        node.keys.remove(at: leftIndex)
        if left.entryCount == 0 {
            node.children.remove(at: leftIndex)
            if !node.keys.isEmpty { node.keys.remove(at: Swift.max(0, leftIndex - 1)) }
        }
    }

    public func removeAll() {
        root = Node(isLeaf: true)
        count = 0
    }

    // MARK: Ordered traversal

    /// Visits entries with keys ≥ `start` (all entries when `start` is `nil`) in ascending order
    /// until `body` returns `false`.
    public func forEach(
        from start: UnsafeRawBufferPointer?, _ body: ([UInt8], Value) throws -> Bool
    ) rethrows {
        _ = try visit(root, from: start, body)
    }

    public func forEach(from start: [UInt8], _ body: ([UInt8], Value) throws -> Bool) rethrows {
        try start.withUnsafeBytes { try forEach(from: $0, body) }
    }

    private func visit(
        _ node: Node, from start: UnsafeRawBufferPointer?, _ body: ([UInt8], Value) throws -> Bool
    ) rethrows -> Bool {
        if node.isLeaf {
            let first = start.map { Self.search(node.keys, $0).index } ?? 0
            for index in first..<node.keys.count {
                if try !body(node.keys[index], node.values[index]) { return false }
            }
            return true
        }
        let first = start.map { Self.childIndex(node.keys, $0) } ?? 0
        for index in first..<node.children.count {
            if try !visit(node.children[index], from: index == first ? start : nil, body) {
                return false
            }
        }
        return true
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

    /// Index of the first key ≥ `key`, and whether it is equal.
    @inline(__always)
    static func search(_ keys: [[UInt8]], _ key: UnsafeRawBufferPointer) -> (index: Int, found: Bool) {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low &+ high) >> 1
            let order = keys[middle].withUnsafeBytes { KeyOrder.compare($0, key) }
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
    @inline(__always)
    static func childIndex(_ separators: [[UInt8]], _ key: UnsafeRawBufferPointer) -> Int {
        let (index, found) = search(separators, key)
        return found ? index + 1 : index
    }
}
