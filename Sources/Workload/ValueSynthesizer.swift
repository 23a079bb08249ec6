import StoreCore

/// Deterministic value bytes for traces that record only sizes: the same seed, key and size give
/// the same bytes on every run and machine. `compressibility` is the fraction of each value that is
/// a repeated filler byte (0 = incompressible random bytes, 0.5 = about half, like db_bench's
/// default compression ratio), so compressing engines are measured on realistic data.
public struct ValueSynthesizer: Sendable {
    public let seed: UInt64
    public let compressibility: Double
    /// Random bytes values are cut from.
    private let pool: [UInt8]

    public init(seed: UInt64, compressibility: Double = 0.5, poolSize: Int = 1 << 20) {
        self.seed = seed
        self.compressibility = min(max(compressibility, 0), 1)
        var random = SeededRandom(seed: seed ^ 0x5EED_5A1E)
        pool = random.bytes(poolSize)
    }

    /// Replaces `buffer`'s contents with the value of `size` bytes for `key`, version `version`.
    public func fill(_ buffer: inout [UInt8], size: Int, key: [UInt8], version: UInt64 = 0) {
        buffer.removeAll(keepingCapacity: true)
        guard size > 0 else { return }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed ^ (version &* 0x9E37_79B9_7F4A_7C15)
        for byte in key { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let randomCount = size - Int(Double(size) * compressibility)
        var start = Int(hash % UInt64(pool.count))
        var remaining = randomCount
        while remaining > 0 {
            let take = min(remaining, pool.count - start)
            buffer.append(contentsOf: pool[start..<(start + take)])
            remaining -= take
            start = 0
        }
        if size > randomCount {
            buffer.append(contentsOf: repeatElement(UInt8(truncatingIfNeeded: hash >> 56), count: size - randomCount))
        }
    }
}
