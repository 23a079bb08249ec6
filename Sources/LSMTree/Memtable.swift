import StoreCore

/// The newest version of each recently written key, in key order. Values live in one growing
/// arena; a tombstone records a delete (it must shadow older versions in SSTs).
final class Memtable {
    struct Slot {
        var offset: Int
        /// Value length, or -1 for a tombstone.
        var length: Int
    }

    enum Lookup {
        case absent
        case deleted
        case value(UnsafeRawBufferPointer)
    }

    private let map = OrderedKeyMap<Slot>()
    private var arena: [UInt8] = []
    /// Bytes the memtable accounts for: keys, values (with overwritten ones) and per-entry overhead.
    private(set) var approximateBytes = 0
    /// Highest commit sequence applied.
    private(set) var maxSequence: UInt64 = 0
    /// Commits applied (for recovery's count).
    private(set) var commits = 0

    static let entryOverhead = 32

    var count: Int { map.count }
    var isEmpty: Bool { map.isEmpty }

    init() {
        arena.reserveCapacity(1 << 16)
    }

    func noteCommit(_ sequence: UInt64) {
        maxSequence = max(maxSequence, sequence)
        commits += 1
    }

    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        let slot = Slot(offset: arena.count, length: value.count)
        arena.append(contentsOf: value)
        if map.insert(slot, forKey: key) == nil {
            approximateBytes += key.count + Self.entryOverhead
        }
        approximateBytes += value.count
    }

    func delete(_ key: UnsafeRawBufferPointer) {
        if map.insert(Slot(offset: 0, length: -1), forKey: key) == nil {
            approximateBytes += key.count + Self.entryOverhead
        }
    }

    /// Looks `key` up; a returned value pointer is valid until the next change.
    @inline(__always)
    func lookup(_ key: UnsafeRawBufferPointer, _ body: (Lookup) throws -> Void) rethrows {
        guard let slot = map.value(forKey: key) else { return try body(.absent) }
        if slot.length < 0 { return try body(.deleted) }
        try arena.withUnsafeBytes { raw in
            try body(.value(UnsafeRawBufferPointer(rebasing: raw[slot.offset..<(slot.offset + slot.length)])))
        }
    }

    /// Visits entries with keys ≥ `start` in order (value `nil` for a tombstone) until `body`
    /// returns false.
    func forEach(from start: [UInt8], _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> Bool) rethrows {
        try arena.withUnsafeBytes { raw in
            try map.forEach(from: start) { key, slot in
                if slot.length < 0 { return try body(key, nil) }
                return try body(key, UnsafeRawBufferPointer(rebasing: raw[slot.offset..<(slot.offset + slot.length)]))
            }
        }
    }
}
