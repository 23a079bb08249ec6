/// What a replayed scan computes over every key and value byte it visits, so the bytes are read
/// as a real reader would read them (a store that hands out pointers without touching the data
/// gets no free scan). Four 64-bit lanes summed and xored word by word: it reads at memory speed,
/// where CRC-32C's one dependent instruction per 8 bytes made the harness's share of a
/// 50-entry scan of 200-byte values larger than an in-memory engine's.
public enum ScanDigest {
    /// `state` folded with every byte of `bytes`.
    @inlinable @inline(__always)
    public static func fold(_ bytes: UnsafeRawBufferPointer, into state: UInt64) -> UInt64 {
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return state }
        var lane0 = state
        var lane1: UInt64 = 0
        var lane2: UInt64 = 0
        var lane3 = UInt64(count)
        var offset = 0
        while offset + 32 <= count {
            lane0 &+= base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            lane1 ^= base.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
            lane2 &+= base.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)
            lane3 ^= base.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self)
            offset += 32
        }
        while offset + 8 <= count {
            lane1 &+= base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        while offset < count {
            lane2 = lane2 &* 31 &+ UInt64(base.load(fromByteOffset: offset, as: UInt8.self))
            offset += 1
        }
        // Mix the lanes so that every byte moves the result.
        var digest = lane0 ^ (lane1 &* 0x9E37_79B9_7F4A_7C15)
        digest = (digest ^ (digest >> 29)) &+ (lane2 &* 0xBF58_476D_1CE4_E5B9)
        digest = (digest ^ (digest >> 32)) &+ (lane3 &* 0x94D0_49BB_1331_11EB)
        return digest ^ (digest >> 31)
    }
}
