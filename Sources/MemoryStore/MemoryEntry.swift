#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StoreCore

/// One key and its value in a single block: a 16-byte header (key length, value length, value
/// capacity, flags), then the key's bytes, then the value's. A point lookup reads one block instead of a
/// tree path and a separate value array, and an overwrite that fits rewrites the value in place.
///
/// An entry lives in its `CellTable` cell when it fits, else in a block of the `EntryArena`.
struct MemoryEntry {
    let base: UnsafeMutableRawPointer

    static var headerSize: Int { 16 }

    init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// A new entry in `arena` holding copies of `key` and `value`; the value's capacity is what
    /// the arena's block has room for.
    static func make(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, in arena: inout EntryArena) -> MemoryEntry {
        let byteCount = headerSize + key.count + value.count
        let base = arena.allocate(byteCount)
        return write(key: key, value: value, at: base, capacity: EntryArena.blockSize(byteCount) - headerSize - key.count)
    }

    /// Lays out an entry holding copies of `key` and `value` at `base`, with room for a value of
    /// `capacity` bytes. The header's last four bytes (flags) are 0: `CellTable` marks a cell that
    /// points elsewhere with 1 there.
    @inline(__always)
    static func write(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, at base: UnsafeMutableRawPointer, capacity: Int) -> MemoryEntry {
        base.storeBytes(of: UInt32(truncatingIfNeeded: key.count), as: UInt32.self)
        base.storeBytes(of: UInt32(truncatingIfNeeded: value.count), toByteOffset: 4, as: UInt32.self)
        base.storeBytes(of: UInt32(truncatingIfNeeded: capacity), toByteOffset: 8, as: UInt32.self)
        base.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        if key.count > 0 { (base + headerSize).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        if value.count > 0 { (base + headerSize + key.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        return MemoryEntry(base)
    }

    @inline(__always) var keyCount: Int { Int(base.load(as: UInt32.self)) }
    @inline(__always) var valueCount: Int { Int(base.load(fromByteOffset: 4, as: UInt32.self)) }
    @inline(__always) var valueCapacity: Int { Int(base.load(fromByteOffset: 8, as: UInt32.self)) }

    @inline(__always) var key: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + Self.headerSize, count: keyCount)
    }

    @inline(__always) var value: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + Self.headerSize + keyCount, count: valueCount)
    }

    /// Whether the entry's key is `other`.
    @inline(__always)
    func hasKey(_ other: UnsafeRawBufferPointer) -> Bool {
        let count = keyCount
        guard count == other.count else { return false }
        return count == 0 || memcmp(base + Self.headerSize, other.baseAddress!, count) == 0
    }

    /// Overwrites the value in place; the caller checked that it fits `valueCapacity`.
    @inline(__always)
    func overwriteValue(_ value: UnsafeRawBufferPointer) {
        if value.count > 0 { (base + Self.headerSize + keyCount).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        base.storeBytes(of: UInt32(truncatingIfNeeded: value.count), toByteOffset: 4, as: UInt32.self)
    }

    /// Starts loading the entry's first 256 bytes (its header, key and a 200-byte value) into
    /// the second-level cache: a scan asks for its next sixteen entries at once, 64 lines, more
    /// than the first level can have in flight (hinted into the first level, a 25-entry scan of
    /// the default mix took 1.6 µs at its median; into the second, 1.1–1.2 µs).
    @inline(__always)
    func prefetch() {
        Prefetch.lines(base, from: 0, to: 256, into: .second)
    }

    /// Returns the entry's block to `arena`.
    func free(in arena: inout EntryArena) {
        arena.deallocate(base, byteCount: Self.headerSize + keyCount + valueCapacity)
    }
}
