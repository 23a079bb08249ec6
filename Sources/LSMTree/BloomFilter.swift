import StoreCore

/// A Bloom filter per SST (about 10 bits per key: ~1% false positives), so a get skips SSTs
/// that do not hold its key without reading a block. Layout: the bit array, then one byte with
/// the number of probes. Probes use double hashing of one 64-bit key hash.
enum BloomFilter {
    /// A 64-bit hash of `key`: 8-byte words mixed multiplicatively, then a finalizer.
    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
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

    /// Builds the filter for keys with the given hashes.
    static func build(hashes: [UInt64], bitsPerKey: Int) -> [UInt8] {
        let probes = max(1, min(30, Int(Double(bitsPerKey) * 0.69)))
        let bits = max(64, hashes.count * bitsPerKey)
        let bytes = (bits + 7) / 8
        var filter = [UInt8](repeating: 0, count: bytes + 1)
        let bitCount = UInt64(bytes * 8)
        for hash in hashes {
            var h = hash & 0xFFFF_FFFF
            let delta = (hash >> 32) | 1
            for _ in 0..<probes {
                let bit = Int(h % bitCount)
                filter[bit / 8] |= 1 << UInt8(bit % 8)
                h = h &+ delta
            }
        }
        filter[bytes] = UInt8(probes)
        return filter
    }

    /// Whether the key with `hash` may be in the set (false: certainly not).
    @inline(__always)
    static func mayContain(_ filter: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        guard filter.count >= 2 else { return true }
        let bytes = filter.count - 1
        let probes = Int(filter[bytes])
        guard probes >= 1, probes <= 30 else { return true }
        let bitCount = UInt64(bytes * 8)
        var h = hash & 0xFFFF_FFFF
        let delta = (hash >> 32) | 1
        for _ in 0..<probes {
            let bit = Int(h % bitCount)
            if filter[bit / 8] & (1 << UInt8(bit % 8)) == 0 { return false }
            h = h &+ delta
        }
        return true
    }
}
