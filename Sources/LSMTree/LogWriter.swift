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

    init(file: DurableFile, offset: Int, space: PreallocatedSpace? = nil) {
        self.file = file
        self.offset = offset
        self.space = space
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
            if left < LogFormat.headerSize {
                buffer.append(contentsOf: repeatElement(0, count: left))
                position += left
                continue
            }
            let length = min(remaining, left - LogFormat.headerSize)
            let end = length == remaining
            let type: LogFormat.FragmentType = first ? (end ? .full : .first) : (end ? .last : .middle)
            let payload = UnsafeRawBufferPointer(rebasing: record[start..<(start + length)])
            // Type byte then payload, without building an array per fragment.
            let crc = withUnsafeBytes(of: type.rawValue) { CRC32C.checksum(payload, continuing: CRC32C.checksum($0)) }
            buffer.appendFixed32(CRC32C.mask(crc))
            buffer.appendFixed16(UInt16(length))
            buffer.append(type.rawValue)
            buffer.append(contentsOf: payload)
            position += LogFormat.headerSize + length
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
