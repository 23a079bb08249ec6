import CHardwareCRC

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). With the CPU's CRC-32C instruction
/// (x86-64 SSE4.2) when it has one; otherwise slicing-by-8: eight 256-entry tables let the loop
/// fold eight input bytes per step instead of one.
public enum CRC32C {
    /// Whether `checksum` uses the CPU instruction.
    public static let usesHardware = storebench_crc32c_hardware_available() == 1

    /// The table-driven implementation, also when the CPU has the instruction (for tests that
    /// compare the two, and for `microbench`).
    public static func softwareChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        return tableChecksum(base, bytes.count, crc)
    }

    /// Eight tables of 256 entries, table `k` at `k * 256`.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
            tables[byte] = crc
        }
        for byte in 0..<256 {
            for k in 1..<8 {
                let previous = tables[(k - 1) * 256 + byte]
                tables[k * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The CRC-32C of `bytes`, continuing from `crc` (the checksum of the bytes before them).
    @inline(__always)
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        if usesHardware { return ~storebench_crc32c_hardware_update(~crc, base, bytes.count) }
        return tableChecksum(base, bytes.count, crc)
    }

    private static func tableChecksum(_ base: UnsafeRawPointer, _ count: Int, _ crc: UInt32) -> UInt32 {
        tables.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            var state = ~crc
            var pointer = base
            var remaining = count
            // Byte-at-a-time until 8-byte aligned, so the main loop reads aligned words.
            while remaining > 0, Int(bitPattern: pointer) & 7 != 0 {
                state = t[Int((state ^ UInt32(pointer.load(as: UInt8.self))) & 0xFF)] ^ (state >> 8)
                pointer += 1
                remaining -= 1
            }
            while remaining >= 8 {
                let word = UInt64(littleEndian: pointer.load(as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ state
                let high = UInt32(truncatingIfNeeded: word >> 32)
                state = t[7 * 256 + Int(low & 0xFF)]
                    ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)]
                    ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)]
                    ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)]
                    ^ t[Int(high >> 24)]
                pointer += 8
                remaining -= 8
            }
            while remaining > 0 {
                state = t[Int((state ^ UInt32(pointer.load(as: UInt8.self))) & 0xFF)] ^ (state >> 8)
                pointer += 1
                remaining -= 1
            }
            return ~state
        }
    }

    /// The CRC-32C of `bytes`, continuing from `crc`.
    public static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// A stored CRC is masked (rotated and offset, as LevelDB does) so that the CRC of data that
    /// itself contains CRCs does not degenerate.
    @inline(__always)
    public static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// Inverse of `mask(_:)`.
    @inline(__always)
    public static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- 0xA282_EAD8
        return (rotated >> 17) | (rotated << 15)
    }
}
