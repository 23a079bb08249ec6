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

    /// Where the value for `key`, version `version` comes from: its place in the pool and its
    /// filler byte, one hash of the seed, the key and the version.
    public struct Origin: Sendable {
        public let start: Int
        public let filler: UInt8
    }

    /// The origin of the value for `key`, version `version`.
    @inline(__always)
    public func origin(key: [UInt8], version: UInt64) -> Origin {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed ^ (version &* 0x9E37_79B9_7F4A_7C15)
        key.withUnsafeBufferPointer { bytes in
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        }
        return Origin(start: Int(hash % UInt64(pool.count)), filler: UInt8(truncatingIfNeeded: hash >> 56))
    }

    /// Starts loading the pool bytes a value of `size` bytes from `origin` copies, so that a
    /// `fill` that follows soon after finds them in the cache (the pool is a megabyte, read at
    /// random places).
    @inline(__always)
    public func prefetch(size: Int, from origin: Origin) {
        let randomCount = min(size - Int(Double(size) * compressibility), pool.count - origin.start)
        guard randomCount > 0 else { return }
        pool.withUnsafeBytes { Prefetch.lines($0.baseAddress! + origin.start, count: randomCount) }
    }

    /// Replaces `buffer`'s contents with the value of `size` bytes for `key`, version `version`.
    public func fill(_ buffer: inout [UInt8], size: Int, key: [UInt8], version: UInt64 = 0) {
        fill(&buffer, size: size, from: origin(key: key, version: version))
    }

    /// Replaces `buffer`'s contents with the value of `size` bytes from `origin` (what `origin(key:version:)` gave).
    public func fill(_ buffer: inout [UInt8], size: Int, from origin: Origin) {
        guard size > 0 else {
            buffer.removeAll(keepingCapacity: true)
            return
        }
        let randomCount = size - Int(Double(size) * compressibility)
        let filler = origin.filler
        let start = origin.start
        if buffer.count != size {
            buffer.removeAll(keepingCapacity: true)
            buffer.append(contentsOf: repeatElement(0, count: size))
        }
        pool.withUnsafeBytes { pool in
            buffer.withUnsafeMutableBytes { target in
                var written = 0
                var from = start
                while written < randomCount {
                    let take = min(randomCount - written, pool.count - from)
                    (target.baseAddress! + written).copyMemory(from: pool.baseAddress! + from, byteCount: take)
                    written += take
                    from = 0
                }
                if size > randomCount { (target.baseAddress! + randomCount).initializeMemory(as: UInt8.self, repeating: filler, count: size - randomCount) }
            }
        }
    }
}
