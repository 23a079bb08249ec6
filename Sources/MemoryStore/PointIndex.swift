import StoreCore

/// An open-addressing hash table from key to `MemoryEntry`, beside the ordered map: gets,
/// overwrites and read-modify-writes find their entry with one probe of a 16-byte slot (the key's
/// hash and the entry) and one read of the entry, where the B+tree walked four nodes and compared
/// key bytes at each. Linear probing, at most half full, deletion by backward shift (no tombstones).
///
/// Not thread-safe: `MemoryStore` holds its lock around every call.
struct PointIndex {
    /// A key's hash beside its entry, so a probe reads one cache line; empty when `entry` is nil.
    private struct Slot {
        var hash: UInt64
        var entry: UnsafeMutableRawPointer?
    }

    private var slots: UnsafeMutablePointer<Slot>
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        mask = size - 1
        slots = Self.allocateSlots(size)
    }

    /// Frees the table (not the entries).
    func deallocate() {
        Self.deallocateSlots(slots, mask + 1)
    }

    /// Tables of 2 MiB and more sit on huge pages: their probes land at random.
    private static func allocateSlots(_ size: Int) -> UnsafeMutablePointer<Slot> {
        let byteCount = size * MemoryLayout<Slot>.stride
        let slots = byteCount >= HugePages.pageSize
            ? HugePages.allocate(byteCount: byteCount).bindMemory(to: Slot.self, capacity: size)
            : UnsafeMutablePointer<Slot>.allocate(capacity: size)
        slots.initialize(repeating: Slot(hash: 0, entry: nil), count: size)
        return slots
    }

    private static func deallocateSlots(_ slots: UnsafeMutablePointer<Slot>, _ size: Int) {
        let byteCount = size * MemoryLayout<Slot>.stride
        if byteCount >= HugePages.pageSize {
            HugePages.deallocate(UnsafeMutableRawPointer(slots), byteCount: byteCount)
        } else {
            slots.deallocate()
        }
    }

    /// The hash of a key: eight bytes at a time, then a 64-bit finalizer, so keys that differ only
    /// in their last digits still spread over the whole table.
    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(key.count &+ 1)
        var offset = 0
        let count = key.count
        while offset + 8 <= count {
            let word = key.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            hash = (hash ^ word) &* 0xFF51_AFD7_ED55_8CCD
            hash ^= hash >> 29
            offset += 8
        }
        if offset < count {
            var word: UInt64 = 0
            var shift: UInt64 = 0
            while offset < count {
                word |= UInt64(key[offset]) << shift
                shift += 8
                offset += 1
            }
            hash = (hash ^ word) &* 0xFF51_AFD7_ED55_8CCD
        }
        hash ^= hash >> 33
        hash = hash &* 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return hash
    }

    /// Where the table is (its address and mask), for `prefetch(hash:table:)` outside the lock.
    var location: (address: UInt, mask: Int) { (UInt(bitPattern: slots), mask) }

    /// Starts loading the home slot of `hash` in the table at `location`, a copy published earlier
    /// and read without the lock, so it may name a table since replaced: a prefetch is only a
    /// hint, and of a stale address merely wasted.
    @inline(__always)
    static func prefetch(hash: UInt64, table location: (address: UInt, mask: Int)) {
        let offset = (Int(truncatingIfNeeded: hash) & location.mask) * MemoryLayout<Slot>.stride
        if let slot = UnsafeRawPointer(bitPattern: location.address &+ UInt(offset)) { Prefetch.line(slot) }
    }

    /// The entry holding `key`, or nil. A candidate entry is loaded whole at once (its value too,
    /// which the caller reads or overwrites next), not one line after another.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> MemoryEntry? {
        var index = Int(truncatingIfNeeded: hash) & mask
        while let entry = slots[index].entry {
            if slots[index].hash == hash {
                let candidate = MemoryEntry(entry)
                candidate.prefetch()
                if candidate.hasKey(key) { return candidate }
            }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Adds `entry`, whose key is not present.
    mutating func insert(_ entry: MemoryEntry, hash: UInt64) {
        if (count + 1) * 2 > mask + 1 { grow() }
        place(entry.base, hash: hash)
        count += 1
    }

    /// Points the slot of `old`'s key at `new` (same key, reallocated entry).
    func replace(_ old: MemoryEntry, with new: MemoryEntry, hash: UInt64) {
        var index = Int(truncatingIfNeeded: hash) & mask
        while let entry = slots[index].entry {
            if entry == old.base {
                slots[index].entry = new.base
                return
            }
            index = (index + 1) & mask
        }
        preconditionFailure("PointIndex.replace: entry not in the table")
    }

    /// Removes the slot holding `key` and returns its entry, or nil when absent.
    mutating func remove(_ key: UnsafeRawBufferPointer, hash: UInt64) -> MemoryEntry? {
        var index = Int(truncatingIfNeeded: hash) & mask
        while let entry = slots[index].entry {
            if slots[index].hash == hash, MemoryEntry(entry).hasKey(key) {
                shiftBack(from: index)
                count -= 1
                return MemoryEntry(entry)
            }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Calls `body` with every entry (in no order).
    func forEach(_ body: (MemoryEntry) -> Void) {
        for index in 0...mask {
            if let entry = slots[index].entry { body(MemoryEntry(entry)) }
        }
    }

    @inline(__always)
    private func place(_ entry: UnsafeMutableRawPointer, hash: UInt64) {
        var index = Int(truncatingIfNeeded: hash) & mask
        while slots[index].entry != nil { index = (index + 1) & mask }
        slots[index] = Slot(hash: hash, entry: entry)
    }

    /// Empties slot `hole` and moves later slots of its probe run back, so every key stays
    /// reachable from its home slot without tombstones.
    private func shiftBack(from hole: Int) {
        var hole = hole
        var index = (hole + 1) & mask
        while slots[index].entry != nil {
            let home = Int(truncatingIfNeeded: slots[index].hash) & mask
            // The entry may move into the hole only if its home is not in (hole, index].
            let distanceToHome = (index - home) & mask
            let distanceToHole = (index - hole) & mask
            if distanceToHome >= distanceToHole {
                slots[hole] = slots[index]
                hole = index
            }
            index = (index + 1) & mask
        }
        slots[hole].entry = nil
    }

    private mutating func grow() {
        let old = slots
        let oldSize = mask + 1
        let size = oldSize * 2
        mask = size - 1
        slots = Self.allocateSlots(size)
        for index in 0..<oldSize {
            if let entry = old[index].entry { place(entry, hash: old[index].hash) }
        }
        Self.deallocateSlots(old, oldSize)
    }
}
