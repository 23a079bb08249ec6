import StoreCore

/// A Bloom filter per SST (about 10 bits per key: ~1% false positives), so a get skips SSTs
/// that do not hold its key without reading a block. Layout: the bit array, then one byte with
/// the number of probes. Probes use double hashing of one 64-bit key hash.
enum BloomFilter {
    /// A 64-bit hash of `key` (`KeyHash`; the filters on disk depend on it).
    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 { KeyHash.of(key) }

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
