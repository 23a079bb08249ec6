import StoreCore

/// One record of a `format=jsonl` segment: a JSON object on one line, written and parsed by hand
/// over bytes in exactly one shape per kind (FORMAT.md, "JSON lines"):
///
///     {"k":"<key>","v":"<value>","b":0,"c":"<crc>"}      put
///     {"k":"<key>","d":true,"b":0,"c":"<crc>"}           delete
///     {"n":<count>,"c":"<crc>"}                          commit of the batch before it
///
/// `b` is 1 for a batch member (it waits for the batch's commit line), 0 for a record that commits
/// itself; `c` is the CRC32C of every byte before `,"c":"`, as 8 lowercase hex digits.
enum JSONLine {
    private static let keyOpen: [UInt8] = Array(#"{"k":""#.utf8)
    private static let valueOpen: [UInt8] = Array(#"","v":""#.utf8)
    private static let deleteMark: [UInt8] = Array(#"","d":true"#.utf8)
    private static let putBatchOpen: [UInt8] = Array(#"","b":"#.utf8)
    private static let deleteBatchOpen: [UInt8] = Array(#","b":"#.utf8)
    private static let commitOpen: [UInt8] = Array(#"{"n":"#.utf8)
    private static let checksumOpen: [UInt8] = Array(#","c":""#.utf8)
    private static let close: [UInt8] = Array("\"}\n".utf8)
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Bytes after the checksummed part: `,"c":"`, 8 hex digits, `"}` and the newline.
    static let checksumTail = 17
    /// Offset of the `b` digit from the end of a put or delete line.
    static let batchDigitFromEnd = 18

    static func putSize(keyCount: Int, valueCount: Int) -> Int {
        keyOpen.count + Base64.encodedCount(keyCount) + valueOpen.count + Base64.encodedCount(valueCount)
            + putBatchOpen.count + 1 + checksumTail
    }

    static func deleteSize(keyCount: Int) -> Int {
        keyOpen.count + Base64.encodedCount(keyCount) + deleteMark.count + deleteBatchOpen.count + 1 + checksumTail
    }

    static func commitSize(count: Int) -> Int {
        commitOpen.count + decimalDigits(count) + checksumTail
    }

    private static func decimalDigits(_ value: Int) -> Int {
        var digits = 1
        var rest = value
        while rest >= 10 { rest /= 10; digits += 1 }
        return digits
    }

    /// Appends a put (`value` non-nil) or delete line.
    static func append(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?, selfCommitting: Bool, to buffer: inout [UInt8]
    ) {
        let start = buffer.count
        let size = value.map { putSize(keyCount: key.count, valueCount: $0.count) } ?? deleteSize(keyCount: key.count)
        buffer.append(contentsOf: repeatElement(0, count: size))
        buffer.withUnsafeMutableBytes { raw in
            var at = start
            func put(_ bytes: [UInt8]) {
                for byte in bytes { raw[at] = byte; at += 1 }
            }
            func put64(_ source: UnsafeRawBufferPointer) {
                let count = Base64.encodedCount(source.count)
                Base64.encode(source, into: UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + count)]))
                at += count
            }
            put(keyOpen)
            put64(key)
            if let value {
                put(valueOpen)
                put64(value)
                put(putBatchOpen)
            } else {
                put(deleteMark)
                put(deleteBatchOpen)
            }
            raw[at] = selfCommitting ? UInt8(ascii: "0") : UInt8(ascii: "1")
            at += 1
            sealChecksum(raw, start: start, checksummedEnd: at)
        }
    }

    /// Appends the commit line that closes a batch of `count` records.
    static func appendCommit(count: Int, to buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: commitSize(count: count)))
        buffer.withUnsafeMutableBytes { raw in
            var at = start
            for byte in commitOpen { raw[at] = byte; at += 1 }
            let digits = decimalDigits(count)
            var rest = count
            for index in stride(from: digits - 1, through: 0, by: -1) {
                raw[at + index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            at += digits
            sealChecksum(raw, start: start, checksummedEnd: at)
        }
    }

    /// Writes `,"c":"<crc of start..<checksummedEnd>"}` and the newline after the checksummed part.
    private static func sealChecksum(_ raw: UnsafeMutableRawBufferPointer, start: Int, checksummedEnd: Int) {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<checksummedEnd]))
        var at = checksummedEnd
        for byte in checksumOpen { raw[at] = byte; at += 1 }
        for index in 0..<8 { raw[at + index] = hexDigits[Int(crc >> UInt32(28 - 4 * index) & 15)] }
        at += 8
        for byte in close { raw[at] = byte; at += 1 }
    }

    /// Turns the batch member at `start` (a whole line) into a record that commits itself: its `b`
    /// digit becomes 0 and its checksum is written again. Used when a merge copies it out of its batch.
    static func markSelfCommitting(_ buffer: inout [UInt8], start: Int, count: Int) {
        buffer.withUnsafeMutableBytes { raw in
            let end = start + count
            raw[end - batchDigitFromEnd] = UInt8(ascii: "0")
            sealChecksum(raw, start: start, checksummedEnd: end - checksumTail)
        }
    }

    /// A parsed line: ranges are offsets in the line; key and value are still base64.
    struct Parsed {
        var kind: LogRecord.Kind
        var selfCommitting: Bool
        var key: Range<Int>
        var value: Range<Int>
        var commitCount: Int
    }

    /// Parses and checks one whole line (ending in its newline): the exact shape, the checksum.
    /// Base64 is checked where it is decoded. Returns why the line is rejected otherwise.
    static func parse(_ line: UnsafeRawBufferPointer) -> Result<Parsed, LineProblem> {
        let n = line.count
        guard n >= commitOpen.count + 1 + checksumTail, line[n - 1] == UInt8(ascii: "\n") else {
            return .failure(.shape("line too short"))
        }
        guard matches(line, n - checksumTail, checksumOpen), matches(line, n - 3, close) else {
            return .failure(.shape("line does not end in a \"c\" checksum field"))
        }
        var stored: UInt32 = 0
        for index in 0..<8 {
            let byte = line[n - 11 + index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            default: return .failure(.shape("checksum is not 8 lowercase hex digits"))
            }
            stored = stored << 4 | digit
        }
        let checked = n - checksumTail
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: line[..<checked])) == stored else {
            return .failure(.checksum)
        }
        if matches(line, 0, commitOpen) {
            let digits = commitOpen.count..<checked
            guard digits.count <= 10, line[digits.lowerBound] != UInt8(ascii: "0") || digits.count == 1 else {
                return .failure(.shape("malformed commit count"))
            }
            var count = 0
            for index in digits {
                let byte = line[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return .failure(.shape("malformed commit count")) }
                count = count * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return .success(Parsed(kind: .commit, selfCommitting: false, key: 0..<0, value: 0..<0, commitCount: count))
        }
        guard matches(line, 0, keyOpen) else { return .failure(.shape("line starts with neither {\"k\": nor {\"n\":")) }
        let batchDigit = line[n - batchDigitFromEnd]
        guard batchDigit == UInt8(ascii: "0") || batchDigit == UInt8(ascii: "1") else {
            return .failure(.shape("\"b\" is neither 0 nor 1"))
        }
        var keyEnd = keyOpen.count
        while keyEnd < checked && line[keyEnd] != UInt8(ascii: "\"") { keyEnd += 1 }
        let key = keyOpen.count..<keyEnd
        if matches(line, keyEnd, valueOpen) {
            let valueEnd = n - batchDigitFromEnd - putBatchOpen.count
            guard valueEnd >= keyEnd + valueOpen.count, matches(line, valueEnd, putBatchOpen) else {
                return .failure(.shape("malformed put line"))
            }
            return .success(Parsed(kind: .put, selfCommitting: batchDigit == UInt8(ascii: "0"), key: key,
                                   value: (keyEnd + valueOpen.count)..<valueEnd, commitCount: 0))
        }
        guard keyEnd + deleteMark.count + deleteBatchOpen.count == n - batchDigitFromEnd,
              matches(line, keyEnd, deleteMark), matches(line, keyEnd + deleteMark.count, deleteBatchOpen)
        else { return .failure(.shape("line is neither a put nor a delete")) }
        return .success(Parsed(kind: .delete, selfCommitting: batchDigit == UInt8(ascii: "0"), key: key,
                               value: 0..<0, commitCount: 0))
    }

    enum LineProblem: Error {
        case checksum
        case shape(String)

        var reason: String {
            switch self {
            case .checksum: "checksum mismatch"
            case let .shape(message): message
            }
        }
    }

    @inline(__always)
    private static func matches(_ line: UnsafeRawBufferPointer, _ at: Int, _ expected: [UInt8]) -> Bool {
        guard at >= 0, at + expected.count <= line.count else { return false }
        for index in expected.indices where line[at + index] != expected[index] { return false }
        return true
    }

    /// Decodes the base64 at `range` of `line` into `target`; `nil` when it is not strict base64.
    @inline(__always)
    static func decode(_ line: UnsafeRawBufferPointer, _ range: Range<Int>, into target: UnsafeMutableRawPointer) -> Int? {
        Base64.decode(UnsafeRawBufferPointer(rebasing: line[range]), into: target)
    }
}
