/// Reads a file front to back through one buffer (1 MiB by default, grown for larger records),
/// so that parsers see contiguous bytes in constant memory: trace files, text imports, `log`
/// segments. Offsets are absolute file offsets.
public struct FileWindow {
    public let file: DurableFile
    public let fileSize: Int64
    private var buffer: [UInt8]
    /// File offset of `buffer[0]`, and how many bytes from there are loaded.
    private var start: Int64 = 0
    private var loaded = 0

    public init(file: DurableFile, size: Int64, capacity: Int = 1 << 20) {
        self.file = file
        fileSize = size
        buffer = [UInt8](repeating: 0, count: max(1, min(capacity, Int(size))))
    }

    /// Bytes loaded from `offset` on (to the end of what the buffer holds).
    public func available(from offset: Int64) -> Int {
        offset >= start && offset <= start + Int64(loaded) ? Int(start + Int64(loaded) - offset) : 0
    }

    /// Makes `[offset, offset + count)` loaded, reading ahead as far as the buffer allows.
    /// - Returns: `false` when the file ends first.
    @inline(__always)
    public mutating func ensure(_ offset: Int64, _ count: Int) throws(StoreError) -> Bool {
        if offset >= start && offset + Int64(count) <= start + Int64(loaded) { return true }
        return try load(offset, count)
    }

    private mutating func load(_ offset: Int64, _ count: Int) throws(StoreError) -> Bool {
        guard offset + Int64(count) <= fileSize else { return false }
        // Keep what is already loaded past `offset`; read only the rest.
        var kept = 0
        var from = 0
        if offset >= start && offset < start + Int64(loaded) {
            kept = Int(start + Int64(loaded) - offset)
            from = Int(offset - start)
        }
        if count > buffer.count {
            var grown = [UInt8](repeating: 0, count: count)
            if kept > 0 { grown.replaceSubrange(0..<kept, with: buffer[from..<(from + kept)]) }
            buffer = grown
        } else if kept > 0 && from > 0 {
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + from, byteCount: kept)
            }
        }
        let want = min(buffer.count - kept, Int(fileSize - offset) - kept)
        let file = self.file
        var failure: StoreError?
        let got = buffer.withUnsafeMutableBytes { raw in
            do throws(StoreError) {
                return try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[kept..<(kept + want)]), at: offset + Int64(kept))
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        start = offset
        loaded = kept + got
        return count <= loaded
    }

    /// Calls `body` with loaded bytes `[offset, offset + count)` (after `ensure` returned `true`).
    @inline(__always)
    public func withBytes<T>(_ offset: Int64, _ count: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let from = Int(offset - start)
        return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[from..<(from + count)])) }
    }

    /// Calls `body` with every loaded byte from `offset` on.
    @inline(__always)
    public func withAvailableBytes<T>(from offset: Int64, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try withBytes(offset, available(from: offset), body)
    }

    /// Loads as much as the buffer holds from `offset`, growing it when `atLeast` more bytes are
    /// needed than it can take.
    public mutating func refill(from offset: Int64, atLeast: Int) throws(StoreError) {
        let count = min(max(atLeast, buffer.count), Int(fileSize - offset))
        _ = try load(offset, count)
    }
}
