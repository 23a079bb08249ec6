/// A small, fast, seedable generator (SplitMix64). The same seed gives the same sequence on every
/// machine and Swift version — unlike `SystemRandomNumberGenerator` — which is what makes
/// workloads, tests and crash points reproducible from a printed seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// Generator number `stream` of a family derived from `seed`, one per worker thread. Stream 0
    /// is `SeededRandom(seed:)` itself, so a one-thread run draws exactly what it always drew;
    /// stream k > 0 starts at a SplitMix64 hash of the seed and k, far from the other streams.
    public init(seed: UInt64, stream: Int) {
        guard stream != 0 else {
            state = seed
            return
        }
        var mixer = SeededRandom(seed: seed ^ (UInt64(stream) &* 0xD1B5_4A32_D192_ED03))
        state = mixer.next()
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<bound` (Lemire's multiply-shift; the tiny bias is irrelevant here
    /// and the result is deterministic).
    @inline(__always)
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// Fills `buffer` with pseudo-random bytes.
    public mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var index = 0
        while index + 8 <= buffer.count {
            buffer.storeBytes(of: next(), toByteOffset: index, as: UInt64.self)
            index += 8
        }
        if index < buffer.count {
            var last = next()
            while index < buffer.count {
                buffer[index] = UInt8(truncatingIfNeeded: last)
                last >>= 8
                index += 1
            }
        }
    }

    /// `count` pseudo-random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        result.withUnsafeMutableBytes { fill($0) }
        return result
    }
}
