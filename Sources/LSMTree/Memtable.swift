import StoreCore
import Synchronization

/// The newest commits in memory: a skiplist, as LevelDB's memtable is, that one writer extends
/// while any number of readers search it without a lock.
///
/// Every put and delete is a node of its own, tagged with its commit's sequence number (and its
/// position in the commit, so the later of two writes to one key in a batch wins). Nodes order by
/// key, then newest first; a reader passes the sequence number of its snapshot and sees only
/// nodes at or below it — so a commit applied while it reads is seen whole or not at all, and a
/// scan sees one snapshot from start to end.
///
/// Concurrency: only the store's current write leader calls `add` and `noteCommit` (the group
/// commit queue runs one leader at a time). The writer fills a node completely, then links it in
/// bottom-up with release stores; readers follow links with acquire loads, so a node they reach is
/// whole. Nodes live in an arena freed only with the memtable, which readers keep alive by holding
/// a reference. The counters (`approximateBytes`, `count`, …) belong to the writer, and to other
/// threads only after the memtable is frozen (handed over under the store's lock).
final class Memtable: @unchecked Sendable {
    enum Lookup {
        case absent
        case deleted
        case value(UnsafeRawBufferPointer)
    }

    typealias Link = Atomic<UnsafeMutableRawPointer?>

    static let maxHeight = 12
    /// One node in four reaches the next level up.
    static let branching: UInt64 = 4
    /// `valueLength` of a tombstone.
    static let tombstone = UInt32.max

    /// Node layout: fixed fields, `height` links, then the key and the value bytes.
    enum Field {
        static let sequence = 0  // u64
        static let prefix = 8  // u64: the key's first 8 bytes, big-endian, zero-padded
        static let keyLength = 16  // u32
        static let valueLength = 20  // u32 (`tombstone` for a delete)
        static let order = 24  // u32: position in its commit
        static let height = 28  // u32
        static let links = 32
    }

    private let arena = MemtableArena()
    private let head: UnsafeMutableRawPointer
    private let height = Atomic<Int>(1)
    /// The writer's scratch: the node before the new one at each level.
    private let splice: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private var randomState: UInt64 = 0x2545_F491_4F6C_DD1D

    /// Bytes of nodes (keys, values, links and fields); the store freezes the memtable past
    /// `write_buffer_size`.
    private(set) var approximateBytes = 0
    /// Highest commit sequence applied.
    private(set) var maxSequence: UInt64 = 0
    /// Commits applied (for recovery's count and flush events).
    private(set) var commits = 0
    /// Nodes (every version of every key).
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    init() {
        head = arena.allocate(Field.links + 8 * Self.maxHeight)
        head.initializeMemory(as: UInt8.self, repeating: 0, count: Field.links)
        head.storeBytes(of: UInt32(Self.maxHeight), toByteOffset: Field.height, as: UInt32.self)
        for level in 0..<Self.maxHeight { Self.link(head, level).initialize(to: Link(nil)) }
        splice = .allocate(capacity: Self.maxHeight)
        splice.initialize(repeating: head, count: Self.maxHeight)
    }

    deinit {
        splice.deallocate()
    }

    // MARK: Node access

    @inline(__always)
    static func link(_ node: UnsafeMutableRawPointer, _ level: Int) -> UnsafeMutablePointer<Link> {
        (node + Field.links + 8 * level).assumingMemoryBound(to: Link.self)
    }

    @inline(__always)
    static func next(_ node: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        link(node, 0).pointee.load(ordering: .acquiring)
    }

    @inline(__always)
    static func sequence(_ node: UnsafeMutableRawPointer) -> UInt64 {
        node.load(fromByteOffset: Field.sequence, as: UInt64.self)
    }

    @inline(__always)
    static func prefix(_ node: UnsafeMutableRawPointer) -> UInt64 {
        node.load(fromByteOffset: Field.prefix, as: UInt64.self)
    }

    @inline(__always)
    static func key(_ node: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        let height = Int(node.load(fromByteOffset: Field.height, as: UInt32.self))
        let length = Int(node.load(fromByteOffset: Field.keyLength, as: UInt32.self))
        return UnsafeRawBufferPointer(start: node + Field.links + 8 * height, count: length)
    }

    /// The node's value, or `nil` for a tombstone.
    @inline(__always)
    static func value(_ node: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer? {
        let length = node.load(fromByteOffset: Field.valueLength, as: UInt32.self)
        guard length != tombstone else { return nil }
        let key = key(node)
        return UnsafeRawBufferPointer(start: key.baseAddress! + key.count, count: Int(length))
    }

    /// Whether two nodes hold the same key.
    @inline(__always)
    static func sameKey(_ a: UnsafeMutableRawPointer, _ b: UnsafeMutableRawPointer) -> Bool {
        prefix(a) == prefix(b) && KeyOrder.compare(key(a), key(b)) == 0
    }

    /// Whether `node` sorts before the entry (key, sequence, order): keys ascending, then
    /// sequence and order descending (newest first).
    @inline(__always)
    static func precedes(
        _ node: UnsafeMutableRawPointer, _ key: UnsafeRawBufferPointer, _ prefix: UInt64, _ sequence: UInt64, _ order: UInt32
    ) -> Bool {
        let nodePrefix = Self.prefix(node)
        if nodePrefix != prefix { return nodePrefix < prefix }
        let compared = KeyOrder.compare(Self.key(node), key)
        if compared != 0 { return compared < 0 }
        let nodeSequence = Self.sequence(node)
        if nodeSequence != sequence { return nodeSequence > sequence }
        return node.load(fromByteOffset: Field.order, as: UInt32.self) > order
    }

    /// The first node at or after (key, sequence, order), or `nil`. With `splice`, records the
    /// last node before it at each level (the writer's insertion points).
    @inline(__always)
    func seek(
        _ key: UnsafeRawBufferPointer, prefix: UInt64, sequence: UInt64, order: UInt32,
        splice: UnsafeMutablePointer<UnsafeMutableRawPointer>? = nil
    ) -> UnsafeMutableRawPointer? {
        var node = head
        var level = height.load(ordering: .relaxed) - 1
        while true {
            let next = Self.link(node, level).pointee.load(ordering: .acquiring)
            if let next, Self.precedes(next, key, prefix, sequence, order) {
                node = next
                continue
            }
            splice?[level] = node
            if level == 0 { return next }
            level -= 1
        }
    }

    /// The first node of the list.
    var first: UnsafeMutableRawPointer? { Self.next(head) }

    // MARK: Writing (the write leader only)

    /// Adds a put (`value` non-nil) or a delete of `key`, made by commit `sequence` as its
    /// operation number `order`.
    func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?, sequence: UInt64, order: UInt32) {
        let prefix = KeyPrefix.of(key)
        _ = seek(key, prefix: prefix, sequence: sequence, order: order, splice: splice)
        let nodeHeight = randomHeight()
        let current = height.load(ordering: .relaxed)
        if nodeHeight > current {
            for level in current..<nodeHeight { splice[level] = head }
            // Readers that see the new height before the links go down a level at a nil link.
            height.store(nodeHeight, ordering: .relaxed)
        }
        let valueCount = value?.count ?? 0
        let size = Field.links + 8 * nodeHeight + key.count + valueCount
        let node = arena.allocate(size)
        node.storeBytes(of: sequence, toByteOffset: Field.sequence, as: UInt64.self)
        node.storeBytes(of: prefix, toByteOffset: Field.prefix, as: UInt64.self)
        node.storeBytes(of: UInt32(key.count), toByteOffset: Field.keyLength, as: UInt32.self)
        node.storeBytes(of: value.map { UInt32($0.count) } ?? Self.tombstone, toByteOffset: Field.valueLength, as: UInt32.self)
        node.storeBytes(of: order, toByteOffset: Field.order, as: UInt32.self)
        node.storeBytes(of: UInt32(nodeHeight), toByteOffset: Field.height, as: UInt32.self)
        let bytes = node + Field.links + 8 * nodeHeight
        if key.count > 0 { bytes.copyMemory(from: key.baseAddress!, byteCount: key.count) }
        if let value, value.count > 0 { (bytes + key.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        for level in 0..<nodeHeight {
            Self.link(node, level).initialize(to: Link(Self.link(splice[level], level).pointee.load(ordering: .relaxed)))
        }
        // Publish bottom-up: a reader that reaches the node at any level finds it complete.
        for level in 0..<nodeHeight {
            Self.link(splice[level], level).pointee.store(node, ordering: .releasing)
        }
        approximateBytes += size
        count += 1
    }

    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, sequence: UInt64, order: UInt32) {
        add(key, value, sequence: sequence, order: order)
    }

    func delete(_ key: UnsafeRawBufferPointer, sequence: UInt64, order: UInt32) {
        add(key, nil, sequence: sequence, order: order)
    }

    /// Records that commit `sequence` was applied whole.
    func noteCommit(_ sequence: UInt64) {
        maxSequence = max(maxSequence, sequence)
        commits += 1
    }

    @inline(__always)
    private func randomHeight() -> Int {
        var height = 1
        while height < Self.maxHeight {
            // xorshift64*
            randomState ^= randomState >> 12
            randomState ^= randomState << 25
            randomState ^= randomState >> 27
            guard ((randomState &* 0x2545_F491_4F6C_DD1D) >> 32) % Self.branching == 0 else { break }
            height += 1
        }
        return height
    }

    // MARK: Reading (any thread)

    /// The newest version of `key` at or below `snapshot`. A value pointer is valid while the
    /// caller holds the memtable.
    @inline(__always)
    func get(_ key: UnsafeRawBufferPointer, prefix: UInt64, snapshot: UInt64) -> Lookup {
        guard let node = seek(key, prefix: prefix, sequence: snapshot, order: .max),
              Self.prefix(node) == prefix, KeyOrder.compare(Self.key(node), key) == 0 else { return .absent }
        guard let value = Self.value(node) else { return .deleted }
        return .value(value)
    }
}
