#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Anonymous memory the kernel is asked to back with 2 MiB pages (`MADV_HUGEPAGE`; honoured where
/// transparent huge pages are `always` or `madvise`). The engine's entries and hash table are
/// reached at random addresses over tens of megabytes: with 4 KiB pages nearly every such access
/// also misses the TLB, and under virtualisation a page walk costs several more memory reads.
enum HugePages {
    static var pageSize: Int { 2 << 20 }

    /// `byteCount` (a multiple of `pageSize`) zeroed bytes aligned to `pageSize`.
    static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let mapped = byteCount + pageSize
        guard let raw = mmap(nil, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else {
            fatalError("memory engine: cannot map \(byteCount) bytes: \(String(cString: strerror(errno)))")
        }
        // Trim to an aligned span so that whole huge pages fit in it.
        let address = Int(bitPattern: raw)
        let aligned = (address + pageSize - 1) & ~(pageSize - 1)
        if aligned > address { munmap(raw, aligned - address) }
        let tail = address + mapped - (aligned + byteCount)
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: aligned + byteCount), tail) }
        let base = UnsafeMutableRawPointer(bitPattern: aligned)!
        #if os(Linux)
        _ = madvise(base, byteCount, MADV_HUGEPAGE)
        #endif
        return base
    }

    static func deallocate(_ base: UnsafeMutableRawPointer, byteCount: Int) {
        munmap(base, byteCount)
    }
}

/// Memory for entries: 16-byte size classes carved from huge-page regions (2 MiB, doubling to
/// 64 MiB), each class with a free list threaded through its freed blocks. Blocks over 4 KiB come
/// from the ordinary allocator. Freed blocks are reused, not returned to the system: the regions
/// go back when the store is released.
///
/// Not thread-safe: `MemoryStore` calls it holding its lock exclusively.
struct EntryArena {
    static var largest: Int { 4096 }

    private var regions: [(base: UnsafeMutableRawPointer, size: Int)] = []
    private var cursor: UnsafeMutableRawPointer?
    private var remaining = 0
    /// Head of each class's free list (class `c` holds blocks of `16 * c` bytes).
    private let freeLists: UnsafeMutablePointer<UnsafeMutableRawPointer?>

    init() {
        freeLists = .allocate(capacity: Self.largest / 16 + 1)
        freeLists.initialize(repeating: nil, count: Self.largest / 16 + 1)
    }

    /// The size of the block that holds `byteCount` bytes.
    @inline(__always)
    static func blockSize(_ byteCount: Int) -> Int {
        byteCount <= largest ? (byteCount + 15) & ~15 : byteCount
    }

    /// A block of `blockSize(byteCount)` bytes, aligned to 16.
    mutating func allocate(_ byteCount: Int) -> UnsafeMutableRawPointer {
        let size = Self.blockSize(byteCount)
        guard size <= Self.largest else { return .allocate(byteCount: size, alignment: 16) }
        let sizeClass = size >> 4
        if let block = freeLists[sizeClass] {
            freeLists[sizeClass] = block.load(as: UnsafeMutableRawPointer?.self)
            return block
        }
        if remaining < size { addRegion() }
        let block = cursor!
        cursor = block + size
        remaining -= size
        return block
    }

    /// Returns a block `allocate(byteCount)` gave.
    mutating func deallocate(_ block: UnsafeMutableRawPointer, byteCount: Int) {
        let size = Self.blockSize(byteCount)
        guard size <= Self.largest else {
            block.deallocate()
            return
        }
        let sizeClass = size >> 4
        block.storeBytes(of: freeLists[sizeClass], as: UnsafeMutableRawPointer?.self)
        freeLists[sizeClass] = block
    }

    /// Releases every region (blocks over 4 KiB must have been returned already).
    func release() {
        for region in regions { HugePages.deallocate(region.base, byteCount: region.size) }
        freeLists.deallocate()
    }

    private mutating func addRegion() {
        // The rest of the current region is left unused (less than 4 KiB).
        let size = min(HugePages.pageSize << regions.count, 64 << 20)
        let base = HugePages.allocate(byteCount: size)
        regions.append((base, size))
        cursor = base
        remaining = size
    }
}
