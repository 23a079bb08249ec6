@testable import AppendLog
import StoreCore
import StoreTestSupport
import Testing

@Suite("log hint files")
struct HintFileTests {
    /// A hint of `count` random keys, and the entries it was made from, by key.
    static func sample(_ count: Int, segmentBytes: Int = 1 << 20, seed: UInt64 = 3) -> (bytes: [UInt8], entries: [[UInt8]: HintFile.Entry]) {
        var random = SeededRandom(seed: seed)
        let map = OrderedKeyMap<HintFile.Entry>()
        var entries: [[UInt8]: HintFile.Entry] = [:]
        while entries.count < count {
            let key = random.bytes(1 + random.below(40))
            let entry = HintFile.Entry(isTombstone: random.below(4) == 0, offset: UInt32(random.below(segmentBytes - 300)), length: UInt32(20 + random.below(200)))
            entries[key] = entry
            _ = map.insert(entry, forKey: key)
        }
        return (HintFile.encode(map, recordCount: count + 17, tombstoneBytes: 999, segmentBytes: segmentBytes), entries)
    }

    @Test("a hint reads back: its trailer, and every entry once, in ascending key order")
    func roundTrip() throws {
        let (bytes, entries) = Self.sample(500)
        let trailer = try #require(HintFile.validate(bytes, segmentSize: 1 << 20))
        #expect(trailer == HintFile.Trailer(entryCount: 500, recordCount: 517, tombstoneBytes: 999, segmentBytes: 1 << 20))
        var seen: [[UInt8]] = []
        HintFile.forEachEntry(bytes) { key, entry in
            #expect(entries[Array(key)] == entry)
            seen.append(Array(key))
        }
        #expect(seen.count == 500 && zip(seen, seen.dropFirst()).allSatisfy { KeyOrder.less($0.0, $0.1) })
    }

    @Test("any flipped byte, a cut, or a segment of another length makes the hint unusable (the segment is scanned instead)")
    func damaged() {
        let (bytes, _) = Self.sample(60)
        var random = SeededRandom(seed: 8)
        for _ in 0..<300 {
            var flipped = bytes
            flipped[random.below(bytes.count)] ^= UInt8(1 + random.below(255))
            #expect(HintFile.validate(flipped, segmentSize: 1 << 20) == nil)
        }
        #expect(HintFile.validate(Array(bytes.dropLast(1 + random.below(bytes.count))), segmentSize: 1 << 20) == nil)
        #expect(HintFile.validate(bytes, segmentSize: (1 << 20) - 1) == nil, "the segment was cut after the hint was written")
        #expect(HintFile.validate([], segmentSize: 1 << 20) == nil)
    }

    @Test("an entry that points past the segment's end is refused even with a valid checksum")
    func entryPastEnd() {
        let map = OrderedKeyMap<HintFile.Entry>()
        _ = map.insert(HintFile.Entry(isTombstone: false, offset: 4_000, length: 200), forKey: Array("k".utf8))
        let bytes = HintFile.encode(map, recordCount: 1, tombstoneBytes: 0, segmentBytes: 4_100)
        #expect(HintFile.validate(bytes, segmentSize: 4_100) == nil)
        let fits = HintFile.encode(map, recordCount: 1, tombstoneBytes: 0, segmentBytes: 4_200)
        #expect(HintFile.validate(fits, segmentSize: 4_200) != nil)
    }
}
