import StoreCore

/// One shard of the block cache: a map from block key to block and a least-recently-used list,
/// under the shard's own lock.
final class BlockCacheShard: @unchecked Sendable {
    private final class Node {
        let key: UInt64
        let block: Block
        var previous: Node?
        var next: Node?
        init(key: UInt64, block: Block) {
            self.key = key
            self.block = block
        }
    }

    let capacity: Int
    private let lock = Lock()
    private var nodes: [UInt64: Node] = [:]
    private var head: Node?  // most recent
    private var tail: Node?  // least recent
    private var bytes = 0
    private var hits = 0
    private var misses = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    func lookup(_ key: UInt64) -> Block? {
        lock.lock()
        defer { lock.unlock() }
        guard let node = nodes[key] else {
            misses += 1
            return nil
        }
        hits += 1
        if node !== head {
            unlink(node)
            pushFront(node)
        }
        return node.block
    }

    func insert(_ key: UInt64, _ block: Block) {
        // A block larger than a quarter of the shard would only evict everything else.
        guard block.bytes.count <= capacity / 4 else { return }
        lock.lock()
        defer { lock.unlock() }
        guard nodes[key] == nil else { return }
        let node = Node(key: key, block: block)
        nodes[key] = node
        pushFront(node)
        bytes += block.bytes.count
        while bytes > capacity, let last = tail {
            unlink(last)
            nodes[last.key] = nil
            bytes -= last.block.bytes.count
        }
    }

    /// Drops every block whose key satisfies `matches`.
    func evict(where matches: (UInt64) -> Bool) {
        lock.withLock {
            for (key, node) in nodes where matches(key) {
                unlink(node)
                nodes[key] = nil
                bytes -= node.block.bytes.count
            }
        }
    }

    var counters: (bytes: Int, hits: Int, misses: Int) {
        lock.withLock { (bytes, hits, misses) }
    }

    private func unlink(_ node: Node) {
        node.previous?.next = node.next
        node.next?.previous = node.previous
        if head === node { head = node.next }
        if tail === node { tail = node.previous }
        node.previous = nil
        node.next = nil
    }

    private func pushFront(_ node: Node) {
        node.next = head
        head?.previous = node
        head = node
        if tail == nil { tail = node }
    }
}
