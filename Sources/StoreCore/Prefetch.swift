import CHardwareCRC

/// Cache prefetch hints for Swift code outside the engines' own C shims.
public enum Prefetch {
    /// Starts loading the cache line holding `address` without waiting for it (a hint: it never
    /// faults, whatever the address).
    @inlinable @inline(__always)
    public static func line(_ address: UnsafeRawPointer) {
        storebench_prefetch(address)
    }

    /// Starts loading every cache line of `count` bytes from `address`, at most `limit` lines.
    @inlinable @inline(__always)
    public static func lines(_ address: UnsafeRawPointer, count: Int, limit: Int = 16) {
        var offset = 0
        var lines = 0
        while offset < count, lines < limit {
            storebench_prefetch(address + offset)
            offset += 64
            lines += 1
        }
    }

    /// Starts loading the cache lines of bytes `start ..< end` from `base`, one hint per 64 bytes
    /// from `start` (a node's fields, laid out at fixed offsets).
    @inlinable @inline(__always)
    public static func lines(_ base: UnsafeRawPointer, from start: Int, to end: Int) {
        var offset = start
        while offset < end {
            storebench_prefetch(base + offset)
            offset += 64
        }
    }

    /// Starts loading the cache lines of bytes `start ..< end` from `base` into the second-level
    /// cache (`storebench_prefetch_near`).
    @inlinable @inline(__always)
    public static func linesNear(_ base: UnsafeRawPointer, from start: Int, to end: Int) {
        var offset = start
        while offset < end {
            storebench_prefetch_near(base + offset)
            offset += 64
        }
    }
}
