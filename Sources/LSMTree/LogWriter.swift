import StoreCore

/// Appends framed records to a file.
final class LogWriter {
    let file: DurableFile
    private(set) var offset: Int
    private var buffer: [UInt8] = []

    init(file: DurableFile, offset: Int) {
        self.file = file
        self.offset = offset
    }

    /// Frames `record` into `buffer` starting at file offset `offset`.
    private func frame(_ record: UnsafeRawBufferPointer) {
        buffer.removeAll(keepingCapacity: true)
        var position = offset
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

    /// Appends one record (one write call).
    func append(_ record: UnsafeRawBufferPointer) throws {
        frame(record)
        do {
            try file.write(buffer, at: Int64(offset))
        } catch {
            // Cut a partial write off so the next record does not follow garbage.
            try? file.truncate(to: Int64(offset))
            throw error
        }
        offset += buffer.count
    }

    func append(_ record: [UInt8]) throws {
        try record.withUnsafeBytes { try append($0) }
    }

    func sync() throws {
        try file.syncData()
    }
}
