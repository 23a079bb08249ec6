import StoreCore
import Testing

@Suite("Integer coding")
struct CodingTests {
    static let edgeValues: [UInt64] = [
        0, 1, 127, 128, 255, 256, 16_383, 16_384, (1 << 21) - 1, 1 << 21, UInt64(UInt32.max),
        UInt64(UInt32.max) + 1, (1 << 56) - 1, 1 << 63, UInt64.max - 1, UInt64.max,
    ]

    @Test("varints round-trip and have the documented sizes")
    func varintRoundTrip() {
        var buffer: [UInt8] = []
        for value in Self.edgeValues { buffer.appendVarint(value) }
        #expect(buffer.count == Self.edgeValues.map(Varint.encodedSize).reduce(0, +))
        buffer.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            for value in Self.edgeValues { #expect(reader.readVarint() == value) }
            #expect(reader.isAtEnd)
            #expect(reader.readVarint() == nil)
        }
        #expect(Varint.encodedSize(0) == 1)
        #expect(Varint.encodedSize(127) == 1)
        #expect(Varint.encodedSize(128) == 2)
        #expect(Varint.encodedSize(UInt64.max) == Varint.maxEncodedSize)
    }

    @Test("known varint encodings")
    func varintBytes() {
        var buffer: [UInt8] = []
        buffer.appendVarint(300 as UInt64)
        #expect(buffer == [0xAC, 0x02])
        buffer.removeAll()
        buffer.appendVarint(UInt64.max)
        #expect(buffer == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    }

    @Test("truncated and overlong varints are rejected without reading past the end")
    func malformedVarints() {
        let cases: [[UInt8]] = [
            [0x80], [0xFF, 0xFF], [],
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],  // 65 bits
            [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // 11 bytes
        ]
        for bytes in cases {
            bytes.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                #expect(reader.readVarint() == nil, "\(bytes)")
                #expect(reader.offset == 0, "a failed read does not advance")
            }
        }
    }

    @Test("readLength enforces its limit")
    func lengthLimit() {
        var buffer: [UInt8] = []
        buffer.appendVarint(1000 as UInt64)
        buffer.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(reader.readLength(limit: 999) == nil)
            var again = ByteReader(raw)
            #expect(again.readLength(limit: 1000) == 1000)
        }
    }

    @Test("fixed-width little-endian round trip, byte order and bounds")
    func fixedWidth() {
        var buffer: [UInt8] = []
        buffer.appendFixed16(0xBEEF)
        buffer.appendFixed32(0x0102_0304)
        buffer.appendFixed64(0x1122_3344_5566_7788)
        #expect(Array(buffer[0..<6]) == [0xEF, 0xBE, 0x04, 0x03, 0x02, 0x01])
        buffer.setFixed32(0xA1B2_C3D4, at: 2)
        buffer.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(reader.readFixed16() == 0xBEEF)
            #expect(reader.readFixed32() == 0xA1B2_C3D4)
            #expect(reader.readFixed64() == 0x1122_3344_5566_7788)
            #expect(reader.readFixed32() == nil)
            #expect(reader.readByte() == nil)
        }
        buffer.withUnsafeBytes { raw in
            var reader = ByteReader(raw, offset: 1)
            #expect(reader.readBytes(3).map(Array.init) == [0xBE, 0xD4, 0xC3])
            #expect(reader.readBytes(100) == nil)
            let skipped = reader.skip(-1)
            #expect(!skipped)
        }
    }

    @Test("keys order unsigned byte-wise, a prefix first")
    func keyOrder() {
        #expect(KeyOrder.compare([0x80], [0x7F]) > 0)
        #expect(KeyOrder.compare([], [0x00]) < 0)
        #expect(KeyOrder.compare([1, 2], [1, 2, 0]) < 0)
        #expect(KeyOrder.compare([1, 2, 3], [1, 2, 3]) == 0)
        #expect(KeyOrder.compare([2], [1, 255, 255]) > 0)
        #expect(KeyOrder.less([0xFF], [0xFF, 0x00]))
    }

    @Test("byte sizes parse with binary suffixes and reject junk")
    func byteSizes() {
        #expect(ByteSize.parse("4096") == 4096)
        #expect(ByteSize.parse("64KiB") == 64 << 10)
        #expect(ByteSize.parse("8MiB") == 8 << 20)
        #expect(ByteSize.parse("1g") == 1 << 30)
        #expect(ByteSize.parse("2_048") == 2048)
        #expect(ByteSize.parse("x") == nil)
        #expect(ByteSize.parse("-1") == nil)
        #expect(ByteSize.parse("99999999999999999GiB") == nil)
        #expect(ByteSize.format(1536) == "1.5 KiB")
        #expect(ByteSize.format(12) == "12 B")
    }

    @Test("the seeded generator is deterministic and covers its range")
    func seededRandom() {
        var a = SeededRandom(seed: 99)
        var b = SeededRandom(seed: 99)
        #expect((0..<100).map { _ in a.next() } == (0..<100).map { _ in b.next() })
        var c = SeededRandom(seed: 1)
        var seen = Set<Int>()
        for _ in 0..<1000 { seen.insert(c.below(10)) }
        #expect(seen == Set(0..<10))
        var one = SeededRandom(seed: 1)
        var two = SeededRandom(seed: 2)
        #expect(one.next() != two.next())
    }
}
