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
    private var window: FileWindow

    init(file: DurableFile, size: Int) {
        self.file = file
        self.size = size
        window = FileWindow(file: file, size: Int64(size))
    }

    /// Whether every byte from `position` to the end of the file is zero.
    mutating func onlyZerosFrom(_ position: Int) throws(StoreError) -> Bool {
        var cursor = position
        while cursor < size {
            let count = min(1 << 16, size - cursor)
            guard try window.ensure(Int64(cursor), count) else { return false }
            if window.withBytes(Int64(cursor), count, { $0.contains { $0 != 0 } }) { return false }
            cursor += count
        }
        return true
    }

    /// Whether the record at `start ..< end` ends in whole 512-byte sectors of zeros with only
    /// zeros after it: an append into preallocated space that the crash stopped after its first
    /// sectors (the rest still holds the zeros written ahead).
    private mutating func endsInUnwrittenSectors(_ start: Int, _ end: Int) throws(StoreError) -> Bool {
        let lastSector = (end - 1) / 512 * 512
        guard lastSector > start else { return false }
        return try onlyZerosFrom(lastSector)
    }

    /// Calls `body` with each valid record (its offset, header and bytes) in file order.
    mutating func scan(
        _ body: (_ offset: Int, _ header: LogRecord.Header, _ record: UnsafeRawBufferPointer) throws -> Void
    ) throws -> End {
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
                try body(position, header, record)
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
}
