/// Least-recently-used cache of SST data blocks, bounded in bytes (`block_cache_size`, default
/// 8 MiB). Used by gets and scans on the store's thread; compactions read around it so a merge
/// does not flush the blocks readers need.
final class BlockCache {
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
    private var nodes: [UInt64: Node] = [:]
    private var head: Node?  // most recent
    private var tail: Node?  // least recent
    private(set) var bytes = 0
    private(set) var hits = 0
    private(set) var misses = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    func lookup(_ key: UInt64) -> Block? {
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
        // A block larger than a quarter of the cache would only evict everything else.
        guard block.bytes.count <= capacity / 4, nodes[key] == nil else { return }
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

    /// Drops every block of SST `number` (its file was deleted).
    func evict(file number: UInt64) {
        for (key, node) in nodes where key >> 24 == number {
            unlink(node)
            nodes[key] = nil
            bytes -= node.block.bytes.count
        }
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
