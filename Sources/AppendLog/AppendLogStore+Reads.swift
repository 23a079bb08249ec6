#if canImport(Glibc)
import Glibc
#endif
import StoreCore

extension AppendLogStore {
    // MARK: Reads

    /// Looks the key up under the shared lock, pins its segment, and reads the record with no
    /// store-wide lock held, straight into `value` (no allocation once `value` has the capacity).
    public func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        let stripe = ThreadStripe.current()
        stateLock.lockShared(stripe: stripe)
        let location: Location
        // Unretained: the pin keeps the segment alive (compaction holds it until it is unpinned),
        // so readers do not contend on its reference count.
        let segment: Unmanaged<Segment>
        do {
            try checkUsable()
            guard let found = keydir.value(forKey: key) else {
                stateLock.unlockShared(stripe: stripe)
                return false
            }
            guard let holder = segments[Int(found.segment)] else {
                throw StoreError.corrupted(file: storage.path, offset: Int64(found.offset), reason: "index points at a missing segment")
            }
            location = found
            segment = Unmanaged.passUnretained(holder)
        } catch {
            stateLock.unlockShared(stripe: stripe)
            throw error
        }
        segment._withUnsafeGuaranteedRef { $0.pin(stripe: stripe) }
        stateLock.unlockShared(stripe: stripe)
        defer { segment._withUnsafeGuaranteedRef { $0.unpin(stripe: stripe) } }
        #if DEBUG
        afterPinHook?(self)
        #endif
        try segment._withUnsafeGuaranteedRef { segment in
            try key.withUnsafeBytes { key in
                try readValue(at: location, in: segment, key: key, into: &value)
            }
        }
        return true
    }

    /// Reads the put record at `location`, checks its CRC, type and key, and leaves only the
    /// value's bytes in `value`. A small record is read into a stack buffer and its value copied
    /// out; a large one is read straight into `value` and its value moved to the front.
    private func readValue(at location: Location, in segment: Segment, key: UnsafeRawBufferPointer, into value: inout [UInt8]) throws {
        let length = Int(location.length)
        // Unmanaged, like the segment (whose pin keeps the file open): a strong reference would
        // be retained, and readers would contend on the file's reference count.
        let file = Unmanaged.passUnretained(segment.file)
        if settings.format == .jsonl {
            // The line is read into `value` and decoded there in place: the key to the front, the
            // value after it, which then moves to the front.
            if value.count < length { value.append(contentsOf: repeatElement(0, count: length - value.count)) }
            let valueCount = try value.withUnsafeMutableBytes { raw -> Int in
                try file._withUnsafeGuaranteedRef { file in
                    let line = UnsafeMutableRawBufferPointer(rebasing: raw[0..<length])
                    try file.readExactly(into: line, at: Int64(location.offset))
                    let (keyCount, valueCount) = try RecordFormat.jsonl.decodeLiveRecord(line, at: location, in: file, key: key)
                    memmove(raw.baseAddress!, raw.baseAddress! + keyCount, valueCount)
                    return valueCount
                }
            }
            value.removeLast(value.count - valueCount)
            return
        }
        if length <= Self.stackRecordLimit {
            try withUnsafeTemporaryAllocation(byteCount: length, alignment: 8) { record in
                try file._withUnsafeGuaranteedRef { file in
                    try file.readExactly(into: record, at: Int64(location.offset))
                    let bytes = UnsafeRawBufferPointer(record)
                    let start = try Self.checkRecord(bytes, at: location, in: file, key: key)
                    value.removeAll(keepingCapacity: true)
                    value.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
                }
            }
            return
        }
        if value.count < length { value.append(contentsOf: repeatElement(0, count: length - value.count)) }
        let valueCount = try value.withUnsafeMutableBytes { raw -> Int in
            try file._withUnsafeGuaranteedRef { file in
                let record = UnsafeMutableRawBufferPointer(rebasing: raw[0..<length])
                try file.readExactly(into: record, at: Int64(location.offset))
                let start = try Self.checkRecord(UnsafeRawBufferPointer(record), at: location, in: file, key: key)
                let count = length - start
                // The value moves to the front of the buffer; the header and key are dropped.
                memmove(raw.baseAddress!, raw.baseAddress! + start, count)
                return count
            }
        }
        value.removeLast(value.count - valueCount)
    }

    /// Records up to this size are read through the stack rather than the caller's buffer.
    static let stackRecordLimit = 4096

    /// Checks a record read for a live key — CRC, a put of the length the index says, and the
    /// expected key when there is one — and returns where its value starts.
    @inline(__always)
    static func checkRecord(_ bytes: UnsafeRawBufferPointer, at location: Location, in file: DurableFile, key expectedKey: UnsafeRawBufferPointer?) throws -> Int {
        func corrupt(_ reason: String) -> StoreError {
            .corrupted(file: file.path, offset: Int64(location.offset), reason: reason)
        }
        let length = bytes.count
        guard length >= LogRecord.headerSize, LogRecord.checksumMatches(bytes) else {
            throw corrupt("checksum mismatch in the \(length)-byte record of a live key")
        }
        guard case let .success(header) = LogRecord.header(bytes), header.kind == .put, header.size == length else {
            throw corrupt("record does not match the index")
        }
        if let expectedKey {
            let key = UnsafeRawBufferPointer(rebasing: bytes[LogRecord.headerSize..<(LogRecord.headerSize + header.keyCount)])
            if KeyOrder.compare(expectedKey, key) != 0 {
                throw corrupt("record holds another key than the index says")
            }
        }
        return LogRecord.headerSize + header.keyCount
    }

    /// Visits entries in key order holding the shared lock for the whole scan, so it sees each
    /// commit wholly or not at all (writers publish under the exclusive lock) and no segment it
    /// reads can be retired meanwhile. The preads run under that lock: `body` must not call back
    /// into the store.
    @discardableResult
    public func scan(
        from start: [UInt8], limit: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        let stripe = ThreadStripe.current()
        stateLock.lockShared(stripe: stripe)
        defer { stateLock.unlockShared(stripe: stripe) }
        try checkUsable()
        guard limit > 0 else { return 0 }
        var visited = 0
        var buffer: [UInt8] = []
        try keydir.forEach(from: start) { key, location in
            try readRecord(at: location, key: key, buffer: &buffer, body)
            visited += 1
            return visited < limit
        }
        return visited
    }

    /// Reads the record at `location` into `buffer` with one pread, verifies its CRC, type and
    /// key, and hands the key and value to `body`. Call holding `stateLock`.
    func readRecord(
        at location: Location, key expectedKey: UnsafeRawBufferPointer?, buffer: inout [UInt8],
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        guard let segment = segments[Int(location.segment)] else {
            throw StoreError.corrupted(file: storage.path, offset: Int64(location.offset), reason: "index points at a missing segment")
        }
        let length = Int(location.length)
        if buffer.count < length { buffer.append(contentsOf: repeatElement(0, count: length - buffer.count)) }
        let file = segment.file
        if settings.format == .jsonl {
            try buffer.withUnsafeMutableBytes { raw in
                let line = UnsafeMutableRawBufferPointer(rebasing: raw[0..<length])
                try file.readExactly(into: line, at: Int64(location.offset))
                let (keyCount, valueCount) = try RecordFormat.jsonl.decodeLiveRecord(line, at: location, in: file, key: expectedKey)
                let bytes = UnsafeRawBufferPointer(line)
                try body(UnsafeRawBufferPointer(rebasing: bytes[0..<keyCount]),
                         UnsafeRawBufferPointer(rebasing: bytes[keyCount..<(keyCount + valueCount)]))
            }
            return
        }
        try buffer.withUnsafeMutableBytes { raw in
            let record = UnsafeMutableRawBufferPointer(rebasing: raw[0..<length])
            try file.readExactly(into: record, at: Int64(location.offset))
            let bytes = UnsafeRawBufferPointer(record)
            let valueStart = try Self.checkRecord(bytes, at: location, in: file, key: expectedKey)
            let key = UnsafeRawBufferPointer(rebasing: bytes[LogRecord.headerSize..<valueStart])
            try body(key, UnsafeRawBufferPointer(rebasing: bytes[valueStart...]))
        }
    }
}
