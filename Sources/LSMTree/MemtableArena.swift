/// The memory of one memtable: nodes are carved out of large blocks that never move and are
/// freed together when the memtable is, so readers may hold pointers into it for as long as they
/// hold the memtable. Only the memtable's one writer allocates.
final class MemtableArena {
    let blockSize: Int
    /// Nodes larger than this get a block of their own, so a big value wastes no block tail.
    var largeNode: Int { blockSize / 4 }

    private var blocks: [UnsafeMutableRawPointer] = []
    private var next: UnsafeMutableRawPointer?
    private var remaining = 0
    /// Bytes allocated from the system.
    private(set) var allocatedBytes = 0

    init(blockSize: Int = 256 << 10) {
        self.blockSize = blockSize
    }

    deinit {
        for block in blocks { block.deallocate() }
    }

    /// `count` bytes aligned to 8, valid until the arena is freed.
    @inline(__always)
    func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        let rounded = (count + 7) & ~7
        if rounded <= remaining, let start = next {
            next = start + rounded
            remaining -= rounded
            return start
        }
        return allocateSlow(rounded)
    }

    private func allocateSlow(_ count: Int) -> UnsafeMutableRawPointer {
        if count > largeNode {
            let block = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 8)
            blocks.append(block)
            allocatedBytes += count
            return block
        }
        let block = UnsafeMutableRawPointer.allocate(byteCount: blockSize, alignment: 8)
        blocks.append(block)
        allocatedBytes += blockSize
        next = block + count
        remaining = blockSize - count
        return block
    }
}
