import StoreCore

/// Record encoding by format: the writer, merges and reads ask the store's format for sizes and
/// bytes, so `binary` and `jsonl` share everything above the record (FORMAT.md).
extension RecordFormat {
    @inline(__always)
    func putSize(keyCount: Int, valueCount: Int) -> Int {
        switch self {
        case .binary: LogRecord.size(keyCount: keyCount, valueCount: valueCount)
        case .jsonl: JSONLine.putSize(keyCount: keyCount, valueCount: valueCount)
        }
    }

    @inline(__always)
    func deleteSize(keyCount: Int) -> Int {
        switch self {
        case .binary: LogRecord.size(keyCount: keyCount, valueCount: 0)
        case .jsonl: JSONLine.deleteSize(keyCount: keyCount)
        }
    }

    /// Size of the commit record that closes a batch of `count` records.
    @inline(__always)
    func commitSize(count: Int) -> Int {
        switch self {
        case .binary: LogRecord.headerSize + 4
        case .jsonl: JSONLine.commitSize(count: count)
        }
    }

    @inline(__always)
    func appendPut(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, selfCommitting: Bool, to buffer: inout [UInt8]) {
        switch self {
        case .binary: LogRecord.append(.put, selfCommitting: selfCommitting, key: key, value: value, to: &buffer)
        case .jsonl: JSONLine.append(key: key, value: value, selfCommitting: selfCommitting, to: &buffer)
        }
    }

    @inline(__always)
    func appendDelete(key: UnsafeRawBufferPointer, selfCommitting: Bool, to buffer: inout [UInt8]) {
        switch self {
        case .binary:
            LogRecord.append(.delete, selfCommitting: selfCommitting, key: key, value: UnsafeRawBufferPointer(start: nil, count: 0), to: &buffer)
        case .jsonl: JSONLine.append(key: key, value: nil, selfCommitting: selfCommitting, to: &buffer)
        }
    }

    func appendCommit(count: Int, to buffer: inout [UInt8]) {
        switch self {
        case .binary: LogRecord.appendCommit(count: count, to: &buffer)
        case .jsonl: JSONLine.appendCommit(count: count, to: &buffer)
        }
    }

    /// Makes the batch member copied to `buffer[start..<start + count]` commit itself (a merge
    /// copies it without its batch's commit record); a record that already does is left alone.
    func markSelfCommitting(_ buffer: inout [UInt8], start: Int, count: Int) {
        switch self {
        case .binary:
            guard buffer[start + 4] & LogRecord.selfCommitting == 0 else { return }
            buffer[start + 4] |= LogRecord.selfCommitting
            let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + 4)..<(start + count)])) }
            buffer.setFixed32(CRC32C.mask(crc), at: start)
        case .jsonl:
            guard buffer[start + count - JSONLine.batchDigitFromEnd] != UInt8(ascii: "0") else { return }
            JSONLine.markSelfCommitting(&buffer, start: start, count: count)
        }
    }

    /// Checks a whole record read at `location` for a live key — checksum, a put of the length the
    /// index says, the expected key when given — and decodes it in place: the key to the front of
    /// `bytes`, the value right after it. Returns the key and value lengths.
    func decodeLiveRecord(
        _ bytes: UnsafeMutableRawBufferPointer, at location: Location, in file: DurableFile, key expectedKey: UnsafeRawBufferPointer?
    ) throws(StoreError) -> (keyCount: Int, valueCount: Int) {
        func corrupt(_ reason: String) -> StoreError {
            .corrupted(file: file.path, offset: Int64(location.offset), reason: reason)
        }
        let length = bytes.count
        switch self {
        case .binary:
            let record = UnsafeRawBufferPointer(bytes)
            guard length >= LogRecord.headerSize, LogRecord.checksumMatches(record) else {
                throw corrupt("checksum mismatch in the \(length)-byte record of a live key")
            }
            guard case let .success(header) = LogRecord.header(record), header.kind == .put, header.size == length else {
                throw corrupt("record does not match the index")
            }
            let key = UnsafeRawBufferPointer(rebasing: record[LogRecord.headerSize..<(LogRecord.headerSize + header.keyCount)])
            if let expectedKey, KeyOrder.compare(expectedKey, key) != 0 {
                throw corrupt("record holds another key than the index says")
            }
            // Header dropped: key and value move to the front.
            bytes.baseAddress!.copyMemory(from: bytes.baseAddress! + LogRecord.headerSize, byteCount: length - LogRecord.headerSize)
            return (header.keyCount, header.valueCount)
        case .jsonl:
            let line = UnsafeRawBufferPointer(bytes)
            let parsed: JSONLine.Parsed
            switch JSONLine.parse(line) {
            case let .success(value): parsed = value
            case let .failure(problem): throw corrupt("\(problem.reason) in the \(length)-byte line of a live key")
            }
            guard parsed.kind == .put else { throw corrupt("line does not match the index") }
            // Decoding in place never overtakes the text being read (4 characters give 3 bytes).
            guard let keyCount = JSONLine.decode(line, parsed.key, into: bytes.baseAddress!) else {
                throw corrupt("key is not base64")
            }
            if let expectedKey, KeyOrder.compare(expectedKey, UnsafeRawBufferPointer(rebasing: line[0..<keyCount])) != 0 {
                throw corrupt("line holds another key than the index says")
            }
            guard let valueCount = JSONLine.decode(line, parsed.value, into: bytes.baseAddress! + keyCount) else {
                throw corrupt("value is not base64")
            }
            return (keyCount, valueCount)
        }
    }
}

extension RecordFormat {
    /// Whether a whole record's checksum is right (a `jsonl` line must also have its shape).
    func checksumMatches(_ record: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .binary:
            return record.count >= LogRecord.headerSize && LogRecord.checksumMatches(record)
        case .jsonl:
            if case .success = JSONLine.parse(record) { return true }
            return false
        }
    }
}
