#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// Layout of a B+tree node in one chunk: a slotted page.
///
///     0  kind u8 (1 leaf, 2 internal)   1  reserved u8   2  count u16
///     4  heapStart u32 (entries occupy [heapStart, chunkSize))
///     8  link u32 (leaf: next leaf's virtual id; internal: leftmost child)
///     12 garbage u32 (bytes of removed entries still in the heap)
///     16 slots: count × u16 entry offsets, in key order
///
/// Leaf entry: keyLength u16, flags u8 (bit 0: value in overflow chunks), valueLength u32, key,
/// then the value inline or the u32 virtual id of its first overflow chunk.
/// Internal entry: keyLength u16, child u32, key — the child holds keys ≥ key.
enum NodeKind: UInt8 {
    case leaf = 1
    case `internal` = 2
}

enum NodeLayout {
    static let headerSize = 16
    static let leafEntryHeader = 7
    static let internalEntryHeader = 6
    static let overflowFlag: UInt8 = 1
    /// Overflow chunk: next virtual u32, payload length u32, payload.
    static let overflowHeader = 8

    /// Largest entry (with its slot) a node of `chunkSize` accepts: four always fit, so a split
    /// always leaves two non-empty halves.
    static func maxEntrySize(_ chunkSize: Int) -> Int { (chunkSize - headerSize) / 4 }

    /// Value bytes one overflow chunk holds.
    static func overflowPayload(_ chunkSize: Int) -> Int { chunkSize - overflowHeader }

    /// Largest key, so that an overflowed leaf entry and an internal entry both fit.
    static func keyLimit(_ chunkSize: Int) -> Int { min(1000, maxEntrySize(chunkSize) - 16) }
}

/// Read access to a node's bytes.
struct NodeView {
    let base: UnsafeRawPointer
    let chunkSize: Int

    @inline(__always) init(_ base: UnsafeRawPointer, chunkSize: Int) {
        self.base = base
        self.chunkSize = chunkSize
    }

    @inline(__always) var kindByte: UInt8 { base.load(as: UInt8.self) }
    @inline(__always) var isLeaf: Bool { kindByte == NodeKind.leaf.rawValue }
    @inline(__always) var count: Int { Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2, as: UInt16.self))) }
    @inline(__always) var heapStart: Int { Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4, as: UInt32.self))) }
    @inline(__always) var link: UInt32 { UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
    @inline(__always) var garbage: Int { Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 12, as: UInt32.self))) }

    /// Bytes in use: header, slots and live entries.
    var usedBytes: Int { NodeLayout.headerSize + 2 * count + (chunkSize - heapStart - garbage) }

    @inline(__always) func offset(_ index: Int) -> Int {
        Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: NodeLayout.headerSize + 2 * index, as: UInt16.self)))
    }

    @inline(__always) func keyLength(at offset: Int) -> Int {
        Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always) func key(_ index: Int) -> UnsafeRawBufferPointer {
        let at = offset(index)
        let header = isLeaf ? NodeLayout.leafEntryHeader : NodeLayout.internalEntryHeader
        return UnsafeRawBufferPointer(start: base + at + header, count: keyLength(at: at))
    }

    /// Leaf: whether entry `index` keeps its value in overflow chunks, the value's length, and
    /// where the inline value (or the overflow chunk id) starts.
    @inline(__always) func value(_ index: Int) -> (overflow: Bool, length: Int, start: Int) {
        let at = offset(index)
        let flags = base.load(fromByteOffset: at + 2, as: UInt8.self)
        let length = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: at + 3, as: UInt32.self)))
        return (flags & NodeLayout.overflowFlag != 0, length, at + NodeLayout.leafEntryHeader + keyLength(at: at))
    }

    @inline(__always) func overflowChunk(_ index: Int) -> UInt32 {
        let value = value(index)
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: value.start, as: UInt32.self))
    }

    /// Internal: child `index` in 0...count (0 is the leftmost).
    @inline(__always) func child(_ index: Int) -> UInt32 {
        if index == 0 { return link }
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset(index - 1) + 2, as: UInt32.self))
    }

    /// Size in the heap of entry `index`.
    func entrySize(_ index: Int) -> Int {
        let at = offset(index)
        let keyLength = keyLength(at: at)
        if !isLeaf { return NodeLayout.internalEntryHeader + keyLength }
        let value = value(index)
        return NodeLayout.leafEntryHeader + keyLength + (value.overflow ? 4 : value.length)
    }

    func entry(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offset(index), count: entrySize(index))
    }

    /// First entry with key ≥ `key`, and whether it equals `key`.
    @inline(__always) func lowerBound(_ key: UnsafeRawBufferPointer) -> (index: Int, found: Bool) {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if KeyOrder.compare(self.key(middle), key) < 0 { low = middle + 1 } else { high = middle }
        }
        return (low, low < count && KeyOrder.compare(self.key(low), key) == 0)
    }

    /// Internal: the child whose range holds `key` (the number of separators ≤ key).
    @inline(__always) func childIndex(_ key: UnsafeRawBufferPointer) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if KeyOrder.compare(self.key(middle), key) <= 0 { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// Changes to a node in a transaction's writable copy.
struct NodeEditor {
    let base: UnsafeMutableRawPointer
    let chunkSize: Int

    init(_ base: UnsafeMutableRawPointer, chunkSize: Int) {
        self.base = base
        self.chunkSize = chunkSize
    }

    var view: NodeView { NodeView(UnsafeRawPointer(base), chunkSize: chunkSize) }

    func initialize(_ kind: NodeKind, link: UInt32) {
        base.initializeMemory(as: UInt8.self, repeating: 0, count: NodeLayout.headerSize)
        base.storeBytes(of: kind.rawValue, as: UInt8.self)
        setHeapStart(chunkSize)
        setLink(link)
    }

    func setCount(_ value: Int) { base.storeBytes(of: UInt16(value).littleEndian, toByteOffset: 2, as: UInt16.self) }
    func setHeapStart(_ value: Int) { base.storeBytes(of: UInt32(value).littleEndian, toByteOffset: 4, as: UInt32.self) }
    func setLink(_ value: UInt32) { base.storeBytes(of: value.littleEndian, toByteOffset: 8, as: UInt32.self) }
    func setGarbage(_ value: Int) { base.storeBytes(of: UInt32(value).littleEndian, toByteOffset: 12, as: UInt32.self) }
    func setOffset(_ index: Int, _ value: Int) {
        base.storeBytes(of: UInt16(value).littleEndian, toByteOffset: NodeLayout.headerSize + 2 * index, as: UInt16.self)
    }

    /// Internal: points child `index` (≥ 1) at `child`.
    func setChild(_ index: Int, _ child: UInt32) {
        if index == 0 { return setLink(child) }
        base.storeBytes(of: child.littleEndian, toByteOffset: view.offset(index - 1) + 2, as: UInt32.self)
    }

    /// Inserts `entry` as entry `index`. Returns `false` when it does not fit even after
    /// squeezing out garbage (the caller splits). `scratch` is a chunk-sized buffer.
    func insert(_ entry: UnsafeRawBufferPointer, at index: Int, scratch: UnsafeMutableRawPointer) -> Bool {
        let view = self.view
        let needed = entry.count + 2
        var free = view.heapStart - NodeLayout.headerSize - 2 * view.count
        if free < needed {
            guard free + view.garbage >= needed else { return false }
            defragment(scratch: scratch)
            free = self.view.heapStart - NodeLayout.headerSize - 2 * view.count
        }
        let count = view.count
        let start = self.view.heapStart - entry.count
        (base + start).copyMemory(from: entry.baseAddress!, byteCount: entry.count)
        let slots = base + NodeLayout.headerSize
        memmove(slots + 2 * (index + 1), slots + 2 * index, 2 * (count - index))
        setOffset(index, start)
        setHeapStart(start)
        setCount(count + 1)
        return true
    }

    /// Removes entry `index`; its bytes become garbage until the next defragment.
    func remove(at index: Int) {
        let view = self.view
        let count = view.count
        setGarbage(view.garbage + view.entrySize(index))
        let slots = base + NodeLayout.headerSize
        memmove(slots + 2 * index, slots + 2 * (index + 1), 2 * (count - index - 1))
        setCount(count - 1)
    }

    /// Rewrites the heap without garbage.
    func defragment(scratch: UnsafeMutableRawPointer) {
        scratch.copyMemory(from: base, byteCount: chunkSize)
        let old = NodeView(UnsafeRawPointer(scratch), chunkSize: chunkSize)
        var heap = chunkSize
        for index in 0..<old.count {
            let entry = old.entry(index)
            heap -= entry.count
            (base + heap).copyMemory(from: entry.baseAddress!, byteCount: entry.count)
            setOffset(index, heap)
        }
        setHeapStart(heap)
        setGarbage(0)
    }

    /// Fills the node with `entries` in order (they must not point into this node).
    func build(_ kind: NodeKind, link: UInt32, entries: ArraySlice<UnsafeRawBufferPointer>) {
        initialize(kind, link: link)
        var heap = chunkSize
        for (index, entry) in entries.enumerated() {
            heap -= entry.count
            (base + heap).copyMemory(from: entry.baseAddress!, byteCount: entry.count)
            setOffset(index, heap)
        }
        setHeapStart(heap)
        setCount(entries.count)
    }
}
