#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Memory the kernel is asked to back with 2 MiB pages (`MADV_HUGEPAGE`; honoured where
/// transparent huge pages are `always` or `madvise`). The engine's entries and hash table are
/// reached at random addresses over tens of megabytes: with 4 KiB pages nearly every such access
/// also misses the TLB, and under virtualisation a page walk costs several more memory reads.
/// The regions come from the process allocator (aligned), not from `mmap` directly, so that the
/// allocator's statistics — the memory figures of a run — count them like any engine's memory.
enum HugePages {
    static var pageSize: Int { 2 << 20 }

    /// `byteCount` (a multiple of `pageSize`) bytes aligned to `pageSize`, not initialised.
    static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        var raw: UnsafeMutableRawPointer?
        let status = posix_memalign(&raw, pageSize, byteCount)
        guard status == 0, let base = raw else {
            fatalError("memory engine: cannot allocate \(byteCount) bytes: \(String(cString: strerror(status)))")
        }
        #if os(Linux)
        _ = madvise(base, byteCount, MADV_HUGEPAGE)
        #endif
        // Not zeroed here: the hash table initialises its slots itself, and entries are written
        // before they are read. Touching the whole region at once would fault in (and have the
        // kernel zero) pages the store may never use, inside whichever operation grew the arena.
        return base
    }

    static func deallocate(_ base: UnsafeMutableRawPointer, byteCount: Int) {
        free(base)
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
