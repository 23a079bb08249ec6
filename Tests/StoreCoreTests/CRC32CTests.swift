import StoreCore
import Testing

@Suite("CRC32C")
struct CRC32CTests {
    /// Bit-at-a-time reference, straight from the definition.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test("published check values (RFC 3720 B.4 and the CRC catalogue)")
    func checkValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Array(0..<32)) == 0x46DD_794E)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test("matches the bitwise reference at every length and alignment")
    func matchesReference() {
        var random = SeededRandom(seed: 3)
        let pool = random.bytes(300)
        for start in 0..<9 {
            for length in 0..<(pool.count - start) where length < 80 || length % 37 == 0 {
                let slice = Array(pool[start..<(start + length)])
                let fast = pool.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
                let table = pool.withUnsafeBytes { CRC32C.softwareChecksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)]), continuing: 0) }
                #expect(fast == Self.reference(slice), "start \(start) length \(length) (hardware: \(CRC32C.usesHardware))")
                #expect(table == Self.reference(slice), "table-driven, start \(start) length \(length)")
            }
        }
    }

    @Test("matches the table-driven code on chunk-sized buffers (three interleaved streams)")
    func matchesOnLongBuffers() {
        var random = SeededRandom(seed: 6)
        let pool = random.bytes(70_000)
        // Around the 3 × 168 and 3 × 1360 byte rounds, and the chunk sizes.
        let lengths = [503, 504, 505, 511, 512, 1007, 1008, 4079, 4080, 4081, 4095, 4096, 4097, 8160, 8192, 12_345, 65_536]
        for start in [0, 1, 5] {
            for length in lengths {
                pool.withUnsafeBytes { all in
                    let bytes = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    #expect(CRC32C.checksum(bytes) == CRC32C.softwareChecksum(bytes), "start \(start) length \(length)")
                    #expect(CRC32C.checksum(bytes, continuing: 0x1234_5678) == CRC32C.softwareChecksum(bytes, continuing: 0x1234_5678))
                }
            }
        }
    }

    @Test("continuing a checksum equals checksumming the concatenation")
    func continuation() {
        var random = SeededRandom(seed: 4)
        let a = random.bytes(1000)
        let b = random.bytes(777)
        #expect(CRC32C.checksum(b, continuing: CRC32C.checksum(a)) == CRC32C.checksum(a + b))
    }

    @Test("a single flipped bit changes the checksum")
    func detectsFlips() {
        var random = SeededRandom(seed: 5)
        let data = random.bytes(4096)
        let original = CRC32C.checksum(data)
        for bit in stride(from: 0, to: data.count * 8, by: 97) {
            var flipped = data
            flipped[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(CRC32C.checksum(flipped) != original)
        }
    }

    @Test("mask and unmask are inverse and masking changes the value")
    func masking() {
        for crc: UInt32 in [0, 1, 0xE306_9283, 0xFFFF_FFFF, 0x1234_5678] {
            #expect(CRC32C.unmask(CRC32C.mask(crc)) == crc)
            #expect(CRC32C.mask(crc) != crc)
        }
    }
}
