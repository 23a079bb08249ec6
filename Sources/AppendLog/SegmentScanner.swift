import StoreCore

/// Reads a segment's records front to back through a large buffer (sequential reads, not one
/// pread per record), checking lengths and CRCs. Used by recovery and by merges.
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
    private var buffer: [UInt8]
    private var bufferStart = 0
    private var bufferCount = 0

    init(file: DurableFile, size: Int, chunk: Int = 1 << 20) {
        self.file = file
        self.size = size
        buffer = [UInt8](repeating: 0, count: min(chunk, max(size, LogRecord.headerSize)))
    }

    /// Makes `[position, position + count)` resident in the buffer; `false` past end of file.
    private mutating func ensure(_ position: Int, _ count: Int) throws(StoreError) -> Bool {
        guard position + count <= size else { return false }
        if position >= bufferStart && position + count <= bufferStart + bufferCount { return true }
        let want = min(max(buffer.count, count), size - position)
        if buffer.count < want { buffer = [UInt8](repeating: 0, count: want) }
        let file = self.file
        var failure: StoreError?
        let got = buffer.withUnsafeMutableBytes { raw in
            do throws(StoreError) {
                return try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: Int64(position))
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        bufferStart = position
        bufferCount = got
        return got >= count
    }

    /// Whether every byte from `position` to the end of the file is zero.
    private mutating func onlyZerosFrom(_ position: Int) throws(StoreError) -> Bool {
        var cursor = position
        while cursor < size {
            let count = min(1 << 16, size - cursor)
            guard try ensure(cursor, count) else { return false }
            let start = cursor - bufferStart
            if buffer[start..<(start + count)].contains(where: { $0 != 0 }) { return false }
            cursor += count
        }
        return true
    }

    /// Calls `body` with each valid record (its offset, header and bytes) in file order.
    mutating func scan(
        _ body: (_ offset: Int, _ header: LogRecord.Header, _ record: UnsafeRawBufferPointer) throws -> Void
    ) throws -> End {
        var position = 0
        while position < size {
            guard try ensure(position, LogRecord.headerSize) else {
                return .invalid(offset: position, reason: "truncated record header", torn: true)
            }
            let headerResult = buffer.withUnsafeBytes {
                LogRecord.header(UnsafeRawBufferPointer(rebasing: $0[(position - bufferStart)...]))
            }
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
            guard try ensure(position, header.size) else {
                return .invalid(offset: position, reason: "record of \(header.size) bytes extends past the end of the file (\(size) bytes)", torn: true)
            }
            let start = position - bufferStart
            let valid = try buffer.withUnsafeBytes { raw in
                let record = UnsafeRawBufferPointer(rebasing: raw[start..<(start + header.size)])
                guard LogRecord.checksumMatches(record) else { return false }
                try body(position, header, record)
                return true
            }
            if !valid {
                let torn = try position + header.size == size || onlyZerosFrom(position)
                return .invalid(offset: position, reason: "checksum mismatch in a \(header.size)-byte record", torn: torn)
            }
            position += header.size
        }
        return .clean
    }
}
