import Foundation
import Histogram
import StoreCore

/// HdrHistogram's interval log (`.hlog`, log format 1.3) and the compressed V2 histogram
/// encoding it carries, written to HdrHistogram's own specification so its tools
/// (HistogramLogReader, HistogramLogProcessor, the plotters) read what storebench records.
///
/// A log is a header, then one line per interval and tag:
/// `Tag=get,<start s>,<length s>,<max ms>,<base64 of the compressed histogram>`. Times are
/// seconds from the log's start time; values are nanoseconds, so the max column (which
/// HdrHistogram divides by 10^6 by default) is in milliseconds.
public enum HdrHistogramLog {
    /// V2 encoding cookies, with the word-size nibble HdrHistogram sets (0x10: LEB128 counts).
    static let encodingCookie: UInt32 = 0x1c84_9303 | 0x10
    static let compressedCookie: UInt32 = 0x1c84_9304 | 0x10

    /// The log's header: format version, start time (seconds since the epoch) and column names.
    public static func header(startTime: Double, comment: String? = nil) -> String {
        var text = ""
        if let comment { text += "#\(comment)\n" }
        text += "#[Histogram log format version 1.3]\n"
        text += "#[StartTime: \(String(format: "%.3f", startTime)) (seconds since epoch), \(Date(timeIntervalSince1970: startTime))]\n"
        text += "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
        return text
    }

    /// One interval line.
    public static func line(tag: String?, start: Double, length: Double, histogram: Histogram<UInt64>) -> String {
        let prefix = tag.map { "Tag=\($0)," } ?? ""
        let maximum = Double(histogram.totalCount == 0 ? 0 : histogram.max) / 1e6
        let encoded = Data(compressed(histogram)).base64EncodedString()
        return prefix + String(format: "%.3f,%.3f,%.3f,", start, length, maximum) + encoded + "\n"
    }

    /// The compressed V2 encoding: cookie, length, then the zlib stream of `encoded(histogram)`.
    public static func compressed(_ histogram: Histogram<UInt64>) -> [UInt8] {
        let deflated = ZlibStored.wrap(encoded(histogram))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + deflated.count)
        appendBigEndian(&bytes, compressedCookie)
        appendBigEndian(&bytes, UInt32(deflated.count))
        return bytes + deflated
    }

    /// The uncompressed V2 encoding: a 40-byte big-endian header (cookie, payload length,
    /// normalizing index offset, significant digits, lowest and highest trackable value,
    /// integer-to-double ratio) and the counts array as ZigZag LEB128 numbers, a run of zero
    /// counts written as its negated length.
    public static func encoded(_ histogram: Histogram<UInt64>) -> [UInt8] {
        let layout = CountsLayout(lowest: histogram.lowestDiscernibleValue,
                                  significantDigits: Int(histogram.numberOfSignificantValueDigits.rawValue))
        var counts: [Int: UInt64] = [:]
        var limit = 0
        for entry in histogram.recordedValues() {
            let index = layout.index(of: entry.value)
            counts[index, default: 0] += UInt64(entry.count)
            limit = max(limit, index + 1)
        }
        var payload: [UInt8] = []
        var index = 0
        while index < limit {
            let count = counts[index] ?? 0
            index += 1
            if count == 0 {
                var zeros = 1
                while index < limit, counts[index] == nil { zeros += 1; index += 1 }
                ZigZag.append(&payload, zeros > 1 ? -Int64(zeros) : 0)
            } else {
                ZigZag.append(&payload, Int64(count))
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(40 + payload.count)
        appendBigEndian(&bytes, encodingCookie)
        appendBigEndian(&bytes, UInt32(payload.count))
        appendBigEndian(&bytes, UInt32(0))
        appendBigEndian(&bytes, UInt32(histogram.numberOfSignificantValueDigits.rawValue))
        appendBigEndian(&bytes, histogram.lowestDiscernibleValue)
        appendBigEndian(&bytes, histogram.highestTrackableValue)
        appendBigEndian(&bytes, (1.0 as Double).bitPattern)
        return bytes + payload
    }

    static func appendBigEndian<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Where HdrHistogram keeps a value's count: bucket 0 has every sub-bucket, each later
    /// bucket (twice the range, half the resolution) only its upper half.
    struct CountsLayout {
        let unitMagnitude: Int
        let subBucketHalfCountMagnitude: Int
        let subBucketHalfCount: Int
        let subBucketMask: UInt64
        let leadingZeroCountBase: Int

        init(lowest: UInt64, significantDigits: Int) {
            var largestSingleUnit = 2
            for _ in 0..<significantDigits { largestSingleUnit *= 10 }
            unitMagnitude = Int(Double.log2(Double(lowest)))
            let subBucketCountMagnitude = Int(Double.log2(Double(largestSingleUnit)).rounded(.up))
            subBucketHalfCountMagnitude = max(subBucketCountMagnitude, 1) - 1
            subBucketHalfCount = 1 << subBucketHalfCountMagnitude
            subBucketMask = UInt64((1 << subBucketCountMagnitude) - 1) << unitMagnitude
            leadingZeroCountBase = 64 - unitMagnitude - subBucketCountMagnitude
        }

        func index(of value: UInt64) -> Int {
            let bucket = leadingZeroCountBase - (value | subBucketMask).leadingZeroBitCount
            let subBucket = Int(value >> UInt64(bucket + unitMagnitude))
            return (bucket + 1) << subBucketHalfCountMagnitude + (subBucket - subBucketHalfCount)
        }
    }
}

/// HdrHistogram's ZigZag LEB128: 7 bits a byte, low first, the ninth byte carrying 8 bits.
enum ZigZag {
    static func append(_ bytes: inout [UInt8], _ value: Int64) {
        var remaining = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        for _ in 0..<8 {
            if remaining < 0x80 {
                bytes.append(UInt8(remaining))
                return
            }
            bytes.append(UInt8(remaining & 0x7F) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: remaining))
    }
}

/// A zlib stream (RFC 1950) of stored deflate blocks (RFC 1951 §3.2.4): what any inflater
/// reads, with no compression library. Histograms are small; their size is not the point.
enum ZlibStored {
    static func wrap(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(0xFFFF, data.count - offset)
            let final: UInt8 = offset + length == data.count ? 1 : 0
            out.append(final)
            out.append(UInt8(length & 0xFF)); out.append(UInt8(length >> 8))
            out.append(UInt8(~length & 0xFF)); out.append(UInt8((~length >> 8) & 0xFF))
            out.append(contentsOf: data[offset..<offset + length])
            offset += length
        } while offset < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        HdrHistogramLog.appendBigEndian(&out, b << 16 | a)
        return out
    }
}
