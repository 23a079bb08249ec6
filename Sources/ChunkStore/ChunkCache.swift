/// Verified chunks kept in memory, keyed by physical chunk. A physical chunk never changes while
/// it is live (copy-on-write), so an entry stays valid until the chunk is freed and reused; the
/// chunk file drops it then. Eviction is CLOCK (second chance) over a fixed set of buffers, so
/// a lookup allocates nothing, and a chunk just written is swapped in without a copy (`adopt`).
final class ChunkCache {
    let chunkSize: Int
    let capacity: Int
    private var buffers: [UnsafeMutableRawPointer]
    private var owners: [UInt32]        // physical held by each slot (0 = empty)
    private var referenced: [Bool]
    /// Slot of each physical chunk (-1: not cached), indexed by physical id: physical ids are
    /// dense, and a lookup per node read must not hash.
    private var slots: [Int32] = []
    private var hand = 0
    /// Slots emptied by `remove`, used before growing or evicting.
    private var emptySlots: [Int] = []
    private(set) var hits = 0
    private(set) var misses = 0

    init(chunkSize: Int, bytes: Int) {
        self.chunkSize = chunkSize
        capacity = max(16, bytes / chunkSize)
        // Slots are allocated as the cache fills, so a small store does not hold the whole budget.
        buffers = []
        owners = []
        referenced = []
    }

    deinit { for buffer in buffers { buffer.deallocate() } }

    /// The cached bytes of `physical`; valid until the next `insert`.
    @inline(__always)
    func lookup(_ physical: UInt32) -> UnsafeMutableRawPointer? {
        let slot = Int(physical) < slots.count ? slots[Int(physical)] : -1
        guard slot >= 0 else {
            misses &+= 1
            return nil
        }
        hits &+= 1
        referenced[Int(slot)] = true
        return buffers[Int(slot)]
    }

    /// A slot for `physical`, evicting another chunk if needed; the caller fills it.
    func insert(_ physical: UInt32) -> UnsafeMutableRawPointer {
        buffers[slot(for: physical)]
    }

    /// Caches `buffer` (the new bytes of `physical`) by swapping it into a slot; returns the
    /// buffer it displaced, which the caller now owns.
    func adopt(_ physical: UInt32, _ buffer: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        let slot = slot(for: physical)
        let displaced = buffers[slot]
        buffers[slot] = buffer
        return displaced
    }

    private func slot(for physical: UInt32) -> Int {
        let index = Int(physical)
        if index >= slots.count {
            slots.append(contentsOf: repeatElement(-1, count: max(index + 1 - slots.count, slots.count / 2)))
        }
        if slots[index] >= 0 { return Int(slots[index]) }
        if let slot = emptySlots.popLast() {
            owners[slot] = physical
            referenced[slot] = true
            slots[index] = Int32(slot)
            return slot
        }
        if buffers.count < capacity {
            buffers.append(UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64))
            owners.append(physical)
            referenced.append(true)
            slots[index] = Int32(buffers.count - 1)
            return buffers.count - 1
        }
        while true {
            let slot = hand
            hand = hand + 1 == buffers.count ? 0 : hand + 1
            if referenced[slot] {
                referenced[slot] = false
                continue
            }
            if owners[slot] != 0 { slots[Int(owners[slot])] = -1 }
            owners[slot] = physical
            referenced[slot] = true
            slots[index] = Int32(slot)
            return slot
        }
    }

    /// Forgets `physical` (it was freed, or is about to be overwritten).
    func remove(_ physical: UInt32) {
        guard Int(physical) < slots.count, slots[Int(physical)] >= 0 else { return }
        let slot = slots[Int(physical)]
        slots[Int(physical)] = -1
        owners[Int(slot)] = 0
        referenced[Int(slot)] = false
        emptySlots.append(Int(slot))
    }

    func removeAll() {
        for index in slots.indices { slots[index] = -1 }
        for index in 0..<buffers.count {
            owners[index] = 0
            referenced[index] = false
        }
        emptySlots = Array(0..<buffers.count)
    }
}
