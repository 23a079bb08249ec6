/// The 64-bit hash of a key that `lsm`'s Bloom filters store (so it is part of the SST format and
/// must not change) and `memory`'s hash table places keys by: 8-byte words mixed
/// multiplicatively, the tail bytes as one more word, then a 64-bit finalizer, so keys that
/// differ only in their last digits still differ in every bit.
public enum KeyHash {
    @inlinable @inline(__always)
    public static func of(_ key: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(key.count)
        var offset = 0
        while offset + 8 <= key.count {
            let word = key.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            h = (h ^ word) &* 0xFF51_AFD7_ED55_8CCD
            h = (h << 31) | (h >> 33)
            offset += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < key.count {
            tail |= UInt64(key[offset]) << shift
            shift += 8
            offset += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        return h
    }
}
