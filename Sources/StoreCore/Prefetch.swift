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

    /// Where a hint asks the lines to go: the first-level cache (data wanted next), or the second
    /// (data wanted a little later, when more lines are in flight than the first level takes).
    public enum Level: Sendable {
        case first, second
    }

    /// Starts loading the cache lines of bytes `start ..< end` from `base`, one hint per 64 bytes
    /// from `start` (a node's fields, laid out at fixed offsets).
    @inlinable @inline(__always)
    public static func lines(_ base: UnsafeRawPointer, from start: Int, to end: Int, into level: Level = .first) {
        var offset = start
        while offset < end {
            switch level {
            case .first: storebench_prefetch(base + offset)
            case .second: storebench_prefetch_near(base + offset)
            }
            offset += 64
        }
    }
}
