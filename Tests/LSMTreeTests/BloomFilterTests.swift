import Foundation
@testable import LSMTree
import StoreCore
import Testing

@Suite("lsm Bloom filter")
struct BloomFilterTests {
    static func hashes(_ range: Range<Int>, prefix: String) -> [UInt64] {
        range.map { number in numberedKey(number, prefix: prefix).withUnsafeBytes { BloomFilter.hash($0) } }
    }

    /// The false-positive rate of an ideal filter with k probes and m/n bits per key.
    static func theoreticalRate(bitsPerKey: Int) -> Double {
        let probes = Double(max(1, min(30, Int(Double(bitsPerKey) * 0.69))))
        return pow(1 - exp(-probes / Double(bitsPerKey)), probes)
    }

    @Test("no false negatives, and a false-positive rate near the ideal one for its bits per key", arguments: [6, 10, 16])
    func falsePositiveRate(bitsPerKey: Int) {
        let members = Self.hashes(0..<20_000, prefix: "member")
        let filter = BloomFilter.build(hashes: members, bitsPerKey: bitsPerKey)
        #expect(filter.count == (members.count * bitsPerKey + 7) / 8 + 1, "bit array plus the probe-count byte")
        filter.withUnsafeBytes { filter in
            for hash in members {
                #expect(BloomFilter.mayContain(filter, hash: hash), "a member is never reported absent")
            }
            let strangers = Self.hashes(0..<200_000, prefix: "stranger")
            let falsePositives = strangers.filter { BloomFilter.mayContain(filter, hash: $0) }.count
            let rate = Double(falsePositives) / Double(strangers.count)
            let ideal = Self.theoreticalRate(bitsPerKey: bitsPerKey)
            #expect(rate <= ideal * 1.5 && rate >= ideal * 0.5,
                    "\(bitsPerKey) bits per key: \(rate * 100)% false positives, ideal \(ideal * 100)%")
        }
    }

    @Test("an empty or malformed filter answers maybe, never a false negative")
    func malformedFilter() {
        let hash = [UInt8]("k".utf8).withUnsafeBytes { BloomFilter.hash($0) }
        for filter: [UInt8] in [[], [0], [0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 31]] {
            filter.withUnsafeBytes { #expect(BloomFilter.mayContain($0, hash: hash), "\(filter)") }
        }
        // Probe count 0 means "no filter", also maybe.
        let empty = BloomFilter.build(hashes: [], bitsPerKey: 10)
        empty.withUnsafeBytes { #expect(!BloomFilter.mayContain($0, hash: hash), "an empty set holds nothing") }
    }

    @Test("the key hash depends on every byte and on the length")
    func hashSpreads() {
        let base = [UInt8](repeating: 0x41, count: 21)
        let baseHash = base.withUnsafeBytes { BloomFilter.hash($0) }
        for index in base.indices {
            var changed = base
            changed[index] ^= 1
            #expect(changed.withUnsafeBytes { BloomFilter.hash($0) } != baseHash, "byte \(index)")
        }
        #expect(Array(base.dropLast()).withUnsafeBytes { BloomFilter.hash($0) } != baseHash)
        #expect(([UInt8](repeating: 0, count: 3)).withUnsafeBytes { BloomFilter.hash($0) }
                != ([UInt8](repeating: 0, count: 4)).withUnsafeBytes { BloomFilter.hash($0) })
    }
}
