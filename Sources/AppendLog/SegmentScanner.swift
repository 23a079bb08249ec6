import StoreCore

/// Reads a segment's records front to back through a `FileWindow` (sequential reads, not one
/// pread per record), checking lengths and CRCs. Used by recovery, merges and hint building.
struct SegmentScanner {
    /// How a scan ended.
    enum End: Equatable {
        case clean
        /// An invalid record at `offset`. `torn` means it is at the tail — it reaches the end of
        /// the file, or only zero bytes follow — the shape an interrupted append leaves.
        case invalid(offset: Int, reason: String, torn: Bool)
    }

    let file: DurableFile
    let size: Int
    let format: RecordFormat
    private var window: FileWindow

    init(file: DurableFile, size: Int, format: RecordFormat) {
        self.file = file
        self.size = size
        self.format = format
        window = FileWindow(file: file, size: Int64(size))
    }

    /// Whether every byte from `position` to the end of the file is zero.
    mutating func onlyZerosFrom(_ position: Int) throws(StoreError) -> Bool {
        try window.onlyZeros(from: Int64(position))
    }

    /// Whether the record at `start ..< end` ends in whole 512-byte sectors of zeros with only
    /// zeros after it: an append into preallocated space that the crash stopped after its first
    /// sectors (the rest still holds the zeros written ahead).
    private mutating func endsInUnwrittenSectors(_ start: Int, _ end: Int) throws(StoreError) -> Bool {
        let lastSector = (end - 1) / 512 * 512
        guard lastSector > start else { return false }
        return try onlyZerosFrom(lastSector)
    }

    /// One valid record as a scan hands it over: its kind, size and key (decoded, for `jsonl`),
    /// and its bytes as stored.
    struct Record {
        var kind: LogRecord.Kind
        var selfCommitting: Bool
        var size: Int
        var key: UnsafeRawBufferPointer
        /// Records in the batch a commit record closes.
        var commitCount: Int
        var bytes: UnsafeRawBufferPointer
    }

    /// Calls `body` with each valid record (its offset and contents) in file order.
    mutating func scan(
        _ body: (_ offset: Int, _ record: Record) throws -> Void
    ) throws -> End {
        switch format {
        case .binary: try scanBinary(body)
        case .jsonl: try scanLines(body)
        }
    }

    private mutating func scanBinary(_ body: (_ offset: Int, _ record: Record) throws -> Void) throws -> End {
        var position = 0
        while position < size {
            guard try window.ensure(Int64(position), LogRecord.headerSize) else {
                return .invalid(offset: position, reason: "truncated record header", torn: true)
            }
            let headerResult = window.withBytes(Int64(position), LogRecord.headerSize) { LogRecord.header($0) }
            let header: LogRecord.Header
            switch headerResult {
            case let .success(decoded):
                header = decoded
            case let .failure(problem):
                let reason: String
                switch problem {
                case let .badType(type): reason = "unknown record type \(type)"
                case let .badLength(message): reason = message
                }
                return .invalid(offset: position, reason: reason, torn: try onlyZerosFrom(position))
            }
            guard try window.ensure(Int64(position), header.size) else {
                return .invalid(offset: position, reason: "record of \(header.size) bytes extends past the end of the file (\(size) bytes)", torn: true)
            }
            let valid = try window.withBytes(Int64(position), header.size) { record in
                guard LogRecord.checksumMatches(record) else { return false }
                let key = UnsafeRawBufferPointer(rebasing: record[LogRecord.headerSize..<(LogRecord.headerSize + header.keyCount)])
                let count = header.kind == .commit
                    ? Int(record.loadUnaligned(fromByteOffset: LogRecord.headerSize, as: UInt32.self).littleEndian) : 0
                try body(position, Record(kind: header.kind, selfCommitting: header.selfCommitting, size: header.size,
                                          key: key, commitCount: count, bytes: record))
                return true
            }
            if !valid {
                let torn = try position + header.size == size || onlyZerosFrom(position)
                    || endsInUnwrittenSectors(position, position + header.size)
                return .invalid(offset: position, reason: "checksum mismatch in a \(header.size)-byte record", torn: torn)
            }
            position += header.size
        }
        return .clean
    }

    /// Longest line a valid `jsonl` record can be: a largest key and value in base64, and the rest.
    static let maxLineLength = JSONLine.putSize(keyCount: StoreLimits.maxKeySize, valueCount: StoreLimits.maxValueSize)

    /// `format=jsonl`: each line up to its newline is one record. A line the file ends inside, or
    /// one cut short by zeros with only zeros after them, is torn (an interrupted append, or
    /// preallocated space); a bad line anywhere else is reported with its offset and line number.
    private mutating func scanLines(_ body: (_ offset: Int, _ record: Record) throws -> Void) throws -> End {
        var position = 0
        var lineNumber = 1
        var key = [UInt8](repeating: 0, count: StoreLimits.maxKeySize)
        while position < size {
            guard let length = try lineLength(from: position) else {
                // No newline before the end of the file (or within the longest possible line).
                let reachesEnd = size - position <= Self.maxLineLength
                return .invalid(offset: position, reason: "line \(lineNumber) has no newline", torn: try reachesEnd || onlyZerosFrom(position))
            }
            let problem = try window.withBytes(Int64(position), length) { line -> String? in
                if let zero = line.firstIndex(of: 0) { return "line \(lineNumber) holds a zero byte at column \(zero + 1)" }
                let parsed: JSONLine.Parsed
                switch JSONLine.parse(line) {
                case let .success(value): parsed = value
                case let .failure(problem): return "line \(lineNumber): \(problem.reason)"
                }
                let keyCount = key.withUnsafeMutableBytes { JSONLine.decode(line, parsed.key, into: $0.baseAddress!) }
                guard let keyCount, keyCount <= StoreLimits.maxKeySize else { return "line \(lineNumber): key is not base64" }
                guard parsed.kind != .put || Base64.decodedCount(UnsafeRawBufferPointer(rebasing: line[parsed.value])) != nil else {
                    return "line \(lineNumber): value is not base64"
                }
                try key.withUnsafeBytes { key in
                    try body(position, Record(kind: parsed.kind, selfCommitting: parsed.selfCommitting, size: length,
                                              key: UnsafeRawBufferPointer(rebasing: key[0..<keyCount]),
                                              commitCount: parsed.commitCount, bytes: line))
                }
                return nil
            }
            if let problem {
                let zeroStart = try window.withBytes(Int64(position), length) { $0.firstIndex(of: 0) }.map { position + $0 }
                let torn = try position + length == size || onlyZerosFrom(zeroStart ?? position + length)
                return .invalid(offset: position, reason: problem, torn: torn)
            }
            position += length
            lineNumber += 1
        }
        return .clean
    }

    /// Length of the line at `position` with its newline, or `nil` when the file (or the longest
    /// possible line) ends first. A zero byte ends the search: preallocated space holds no newline.
    private mutating func lineLength(from position: Int) throws(StoreError) -> Int? {
        var want = min(size - position, 64 << 10)
        var searched = 0
        while true {
            guard try window.ensure(Int64(position), want) else { return nil }
            let found = window.withBytes(Int64(position), want) { bytes -> (newline: Int?, zero: Bool) in
                for index in searched..<bytes.count {
                    if bytes[index] == UInt8(ascii: "\n") { return (index, false) }
                    if bytes[index] == 0 { return (index, true) }
                }
                return (nil, false)
            }
            if let index = found.newline {
                // A line cut short by zeros: its length up to them, so the parser reports it.
                return found.zero ? (try onlyZerosFrom(position + index) ? nil : index + 1) : index + 1
            }
            searched = want
            guard want < size - position, want < Self.maxLineLength else { return nil }
            want = min(size - position, Self.maxLineLength, want * 4)
        }
    }
}
