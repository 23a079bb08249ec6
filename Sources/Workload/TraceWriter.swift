import StoreCore

/// Writes a binary trace, streaming: operations are encoded into a 1 MiB buffer and written in
/// large pieces through the durable file layer. The file appears under its name only when
/// `finish()` has written the trailer and synced it (until then it is `NAME.tmp`), so an
/// interrupted conversion never leaves a trace that looks complete.
public final class TraceWriter {
    public var path: String { file.path }
    private let file: AtomicFileWriter
    private var buffer: [UInt8] = []
    private var crc: UInt32 = 0
    private var previousTimestamp: UInt64 = 0
    public private(set) var count = 0

    public init(path: String, header: TraceHeader, fileSystem: any FileSystem = PosixFileSystem()) throws {
        file = try AtomicFileWriter(path: path, fileSystem: fileSystem)
        buffer.reserveCapacity(1 << 20)
        let headerBytes = header.encoded()
        var start = TraceFormat.magic
        start.appendFixed16(TraceFormat.version)
        start.appendFixed32(UInt32(headerBytes.count))
        start += headerBytes
        start.appendFixed32(CRC32C.mask(CRC32C.checksum(headerBytes)))
        try file.write(start)
    }

    /// Appends one operation.
    public func append(_ operation: WorkloadOperation) throws {
        var tag = operation.kind.rawValue
        let timestamp = operation.timestamp
        if timestamp != nil { tag |= TraceFormat.hasTimestamp }
        let carriesValue = operation.kind.writesValue && operation.value != nil
        if carriesValue { tag |= TraceFormat.hasValue }
        buffer.append(tag)
        if let timestamp {
            buffer.appendVarint(TraceFormat.zigzag(Int64(bitPattern: timestamp &- previousTimestamp)))
            previousTimestamp = timestamp
        }
        buffer.appendVarint(operation.key.count)
        buffer.append(contentsOf: operation.key)
        switch operation.kind {
        case .put, .readModifyWrite:
            buffer.appendVarint(operation.valueSize)
            if carriesValue, let value = operation.value { buffer.append(contentsOf: value) }
        case .scan:
            buffer.appendVarint(operation.scanCount)
        case .get, .delete, .begin, .commit:
            break
        }
        count += 1
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        crc = CRC32C.checksum(buffer, continuing: crc)
        try file.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes the trailer, syncs the file and renames it into place.
    /// - Returns: the number of operations written.
    @discardableResult
    public func finish() throws -> Int {
        try flush()
        var trailer: [UInt8] = [TraceFormat.endTag]
        trailer.appendFixed64(UInt64(count))
        trailer.appendFixed32(CRC32C.mask(crc))
        trailer += TraceFormat.trailerMagic
        try file.write(trailer)
        try file.finish()
        return count
    }

    /// Drops the unfinished trace.
    public func abandon() {
        file.abandon()
    }
}
