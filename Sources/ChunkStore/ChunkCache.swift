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
    private var slots: [UInt32: Int32] = [:]
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
        guard let slot = slots[physical] else {
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
        if let slot = slots[physical] { return Int(slot) }
        if let slot = emptySlots.popLast() {
            owners[slot] = physical
            referenced[slot] = true
            slots[physical] = Int32(slot)
            return slot
        }
        if buffers.count < capacity {
            buffers.append(UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64))
            owners.append(physical)
            referenced.append(true)
            slots[physical] = Int32(buffers.count - 1)
            return buffers.count - 1
        }
        while true {
            let slot = hand
            hand = hand + 1 == buffers.count ? 0 : hand + 1
            if referenced[slot] {
                referenced[slot] = false
                continue
            }
            if owners[slot] != 0 { slots[owners[slot]] = nil }
            owners[slot] = physical
            referenced[slot] = true
            slots[physical] = Int32(slot)
            return slot
        }
    }

    /// Forgets `physical` (it was freed, or is about to be overwritten).
    func remove(_ physical: UInt32) {
        guard let slot = slots.removeValue(forKey: physical) else { return }
        owners[Int(slot)] = 0
        referenced[Int(slot)] = false
        emptySlots.append(Int(slot))
    }

    func removeAll() {
        slots.removeAll(keepingCapacity: true)
        for index in 0..<buffers.count {
            owners[index] = 0
            referenced[index] = false
        }
        emptySlots = Array(0..<buffers.count)
    }
}
