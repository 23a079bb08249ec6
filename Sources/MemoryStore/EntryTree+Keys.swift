import StoreCore

extension EntryTree {
    /// A key with its first 16 bytes as integers (zero-padded, big-endian): integer order agrees
    /// with byte order whenever they differ.
    struct Probe {
        let key: UnsafeRawBufferPointer
        let high: UInt64
        let low: UInt64

        @inline(__always)
        init(_ key: UnsafeRawBufferPointer) {
            self.key = key
            high = KeyPrefix.of(key)
            low = key.count > 8 ? KeyPrefix.of(UnsafeRawBufferPointer(rebasing: key[8...])) : 0
        }
    }

    /// Negative, zero or positive as `probe` sorts before, equal to or after the stored key.
    @inline(__always)
    static func compare(_ probe: Probe, _ high: UInt64, _ low: UInt64, _ key: () -> UnsafeRawBufferPointer) -> Int {
        if probe.high != high { return probe.high < high ? -1 : 1 }
        if probe.low != low { return probe.low < low ? -1 : 1 }
        return KeyOrder.compare(probe.key, key())
    }

    /// A separator's key bytes.
    @inline(__always)
    static func separatorKey(_ block: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: block + 4, count: Int(block.load(as: UInt32.self)))
    }

    static func makeSeparator(_ key: UnsafeRawBufferPointer, _ arena: inout EntryArena) -> UnsafeMutableRawPointer {
        let block = arena.allocate(4 + key.count)
        block.storeBytes(of: UInt32(truncatingIfNeeded: key.count), as: UInt32.self)
        if key.count > 0 { (block + 4).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        return block
    }

    static func freeSeparator(_ block: UnsafeMutableRawPointer, _ arena: inout EntryArena) {
        arena.deallocate(block, byteCount: 4 + Int(block.load(as: UInt32.self)))
    }
}
