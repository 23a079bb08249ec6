/// Little-endian fixed-width and LEB128 varint encoding, appended to a byte array.
extension Array where Element == UInt8 {
    @inline(__always)
    public mutating func appendFixed16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value))
        append(UInt8(truncatingIfNeeded: value >> 8))
    }

    @inline(__always)
    public mutating func appendFixed32(_ value: UInt32) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    @inline(__always)
    public mutating func appendFixed64(_ value: UInt64) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// Appends `value` as an unsigned LEB128 varint: 7 bits per byte, high bit set on every byte
    /// but the last (1 byte below 128, at most 10 bytes).
    @inline(__always)
    public mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        append(UInt8(rest))
    }

    @inline(__always)
    public mutating func appendVarint(_ value: Int) {
        appendVarint(UInt64(value))
    }

    /// Overwrites four bytes at `index` with `value`, little-endian (for lengths and CRCs that are
    /// known only after the bytes they cover).
    @inline(__always)
    public mutating func setFixed32(_ value: UInt32, at index: Int) {
        self[index] = UInt8(truncatingIfNeeded: value)
        self[index + 1] = UInt8(truncatingIfNeeded: value >> 8)
        self[index + 2] = UInt8(truncatingIfNeeded: value >> 16)
        self[index + 3] = UInt8(truncatingIfNeeded: value >> 24)
    }
}

/// Encoded sizes, for sizing buffers before writing.
public enum Varint {
    /// Bytes `appendVarint(value)` writes.
    @inline(__always)
    public static func encodedSize(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    public static let maxEncodedSize = 10
}
