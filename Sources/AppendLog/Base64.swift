/// Standard-alphabet, padded base64 over raw bytes (RFC 4648 §4), for `format=jsonl` lines: no
/// `String`, no Foundation, and a strict decoder (wrong length, characters or padding: `nil`).
enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    /// 6-bit value of each byte, 0xFF for bytes outside the alphabet.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Characters `count` bytes encode to.
    @inline(__always)
    static func encodedCount(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Encodes `source` into `target`, which holds exactly `encodedCount(source.count)` bytes.
    static func encode(_ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer) {
        alphabet.withUnsafeBufferPointer { table in
            var input = 0
            var output = 0
            let count = source.count
            while input + 3 <= count {
                let word = UInt32(source[input]) << 16 | UInt32(source[input + 1]) << 8 | UInt32(source[input + 2])
                target[output] = table[Int(word >> 18)]
                target[output + 1] = table[Int(word >> 12 & 63)]
                target[output + 2] = table[Int(word >> 6 & 63)]
                target[output + 3] = table[Int(word & 63)]
                input += 3
                output += 4
            }
            let rest = count - input
            guard rest > 0 else { return }
            let word = UInt32(source[input]) << 16 | (rest == 2 ? UInt32(source[input + 1]) << 8 : 0)
            target[output] = table[Int(word >> 18)]
            target[output + 1] = table[Int(word >> 12 & 63)]
            target[output + 2] = rest == 2 ? table[Int(word >> 6 & 63)] : UInt8(ascii: "=")
            target[output + 3] = UInt8(ascii: "=")
        }
    }

    /// Bytes the padded text `source` decodes to, or `nil` when its length is not a multiple of 4.
    static func decodedCount(_ source: UnsafeRawBufferPointer) -> Int? {
        guard source.count % 4 == 0 else { return nil }
        guard source.count > 0 else { return 0 }
        var count = source.count / 4 * 3
        if source[source.count - 1] == UInt8(ascii: "=") { count -= 1 }
        if source[source.count - 2] == UInt8(ascii: "=") { count -= 1 }
        return count
    }

    /// Decodes `source` to `target` (at least `decodedCount(source)` bytes) and returns the byte
    /// count, or `nil` for text that is not strict padded base64. `target` may start at or before
    /// `source` in the same buffer: the output never overtakes the input.
    static func decode(_ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawPointer) -> Int? {
        guard let total = decodedCount(source) else { return nil }
        return values.withUnsafeBufferPointer { table -> Int? in
            let groups = source.count / 4
            var output = 0
            for group in 0..<groups {
                let input = group * 4
                let a = table[Int(source[input])], b = table[Int(source[input + 1])]
                let c0 = source[input + 2], d0 = source[input + 3]
                guard a | b != 0xFF, a < 64, b < 64 else { return nil }
                if group == groups - 1 && d0 == UInt8(ascii: "=") {
                    if c0 == UInt8(ascii: "=") {
                        guard b & 15 == 0 else { return nil }  // canonical: unused bits zero
                        target.storeBytes(of: a << 2 | b >> 4, toByteOffset: output, as: UInt8.self)
                        return output + 1 == total ? total : nil
                    }
                    let c = table[Int(c0)]
                    guard c < 64, c & 3 == 0 else { return nil }
                    target.storeBytes(of: a << 2 | b >> 4, toByteOffset: output, as: UInt8.self)
                    target.storeBytes(of: b << 4 | c >> 2, toByteOffset: output + 1, as: UInt8.self)
                    return output + 2 == total ? total : nil
                }
                let c = table[Int(c0)], d = table[Int(d0)]
                guard c < 64, d < 64 else { return nil }
                target.storeBytes(of: a << 2 | b >> 4, toByteOffset: output, as: UInt8.self)
                target.storeBytes(of: b << 4 | c >> 2, toByteOffset: output + 1, as: UInt8.self)
                target.storeBytes(of: c << 6 | d, toByteOffset: output + 2, as: UInt8.self)
                output += 3
            }
            return output == total ? total : nil
        }
    }
}
