import StoreCore

/// Appends framed records to a file. Records can be framed one by one and written together with
/// one write call (a commit group's WAL records), or appended one at a time.
final class LogWriter {
    let file: DurableFile
    /// End of what was written to the file.
    private(set) var offset: Int
    /// Records framed and not yet written.
    private var buffer: [UInt8] = []

    /// Zero-filled space ahead of `offset` (a WAL under durability `always`), so that a
    /// commit's write lands in blocks the file already has.
    private let space: PreallocatedSpace?

    /// The WAL's number in every fragment header (the recyclable layout), or `nil` for the
    /// legacy layout (the MANIFEST).
    let logNumber: UInt32?
    private let headerSize: Int

    init(file: DurableFile, offset: Int, space: PreallocatedSpace? = nil, logNumber: UInt64? = nil) {
        self.file = file
        self.offset = offset
        self.space = space
        self.logNumber = logNumber.map(LogFormat.headerLogNumber)
        headerSize = logNumber == nil ? LogFormat.headerSize : LogFormat.recyclableHeaderSize
        buffer.reserveCapacity(1 << 16)
    }

    /// Stops filling ahead and closes the file.
    func close() {
        space?.finish()
        file.close()
    }

    /// Bytes framed and not yet written.
    var pendingBytes: Int { buffer.count }

    /// Frames `record` after the records already pending, as if they were in the file.
    func add(_ record: UnsafeRawBufferPointer) {
        var position = offset + buffer.count
        var remaining = record.count
        var start = 0
        var first = true
        repeat {
            let left = LogFormat.blockSize - position % LogFormat.blockSize
            if left < headerSize {
                buffer.append(contentsOf: repeatElement(0, count: left))
                position += left
                continue
            }
            let length = min(remaining, left - headerSize)
            let end = length == remaining
            let role: LogFormat.FragmentType = first ? (end ? .full : .first) : (end ? .last : .middle)
            let type = LogFormat.FragmentType.of(role, recyclable: logNumber != nil)
            let payload = UnsafeRawBufferPointer(rebasing: record[start..<(start + length)])
            // Type byte (and log number) then payload, without building an array per fragment.
            let headerStart = buffer.count
            buffer.appendFixed32(0)
            buffer.appendFixed16(UInt16(length))
            buffer.append(type.rawValue)
            if let logNumber { buffer.appendFixed32(logNumber) }
            let crc = buffer.withUnsafeBytes { raw in
                CRC32C.checksum(payload, continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(headerStart + 6)...])))
            }
            let masked = CRC32C.mask(crc)
            for index in 0..<4 { buffer[headerStart + index] = UInt8(truncatingIfNeeded: masked >> (8 * index)) }
            buffer.append(contentsOf: payload)
            position += headerSize + length
            start += length
            remaining -= length
            first = false
        } while remaining > 0
    }

    func add(_ record: [UInt8]) {
        record.withUnsafeBytes { add($0) }
    }

    /// Writes every pending record with one write call.
    func write() throws {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        do {
            try space?.prepare(through: offset + buffer.count)
            try file.write(buffer, at: Int64(offset))
        } catch {
            // Cut a partial write off so the next record does not follow garbage.
            space?.noteTruncated(to: offset)
            try? file.truncate(to: Int64(offset))
            throw error
        }
        offset += buffer.count
    }

    /// Appends one record (one write call).
    func append(_ record: UnsafeRawBufferPointer) throws {
        add(record)
        try write()
    }

    func append(_ record: [UInt8]) throws {
        try record.withUnsafeBytes { try append($0) }
    }

    func sync() throws {
        try file.syncData()
    }
}
