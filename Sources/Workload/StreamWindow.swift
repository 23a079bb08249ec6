import StoreCore

/// Reads a `ByteSource` front to back through one buffer (1 MiB by default, grown for larger
/// records as their bytes arrive), so that parsers see contiguous bytes in constant memory, compressed input or not.
/// Offsets are absolute offsets in the (decompressed) stream; they only move forward.
public struct StreamWindow {
    public let source: ByteSource
    private var buffer: [UInt8]
    /// Stream offset of `buffer[0]`, and how many bytes from there are loaded.
    private var start: Int64 = 0
    private var loaded = 0
    /// Whether the source has returned its last byte.
    public private(set) var ended = false

    public init(source: ByteSource, capacity: Int = 1 << 20) {
        self.source = source
        buffer = [UInt8](repeating: 0, count: max(1, capacity))
    }

    public var path: String { source.path }

    /// Bytes loaded from `offset` on (to the end of what the buffer holds).
    @inline(__always)
    public func available(from offset: Int64) -> Int {
        offset >= start && offset <= start + Int64(loaded) ? Int(start + Int64(loaded) - offset) : 0
    }

    /// Makes `[offset, offset + count)` loaded, reading ahead as far as the buffer allows.
    /// - Returns: `false` when the stream ends first.
    @inline(__always)
    public mutating func ensure(_ offset: Int64, _ count: Int) throws -> Bool {
        if offset >= start && offset + Int64(count) <= start + Int64(loaded) { return true }
        return try load(offset, count)
    }

    /// Whether the stream ends exactly at `offset`.
    public mutating func isEnd(at offset: Int64) throws -> Bool {
        !(try ensure(offset, 1))
    }

    private mutating func load(_ offset: Int64, _ count: Int) throws -> Bool {
        precondition(offset >= start, "StreamWindow reads forward only")
        // Skip forward to `offset` when it lies beyond what is loaded.
        while offset > start + Int64(loaded) {
            start += Int64(loaded)
            loaded = 0
            guard !ended else { return false }
            let want = Int(min(Int64(buffer.count), offset - start))
            let got = try fill(0, want)
            if got == 0 { ended = true }
            loaded = got
        }
        let kept = Int(start + Int64(loaded) - offset)
        let from = Int(offset - start)
        if kept > 0 && from > 0 {
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + from, byteCount: kept)
            }
        }
        start = offset
        loaded = kept
        while !ended {
            if loaded == buffer.count {
                guard loaded < count else { break }
                // Grown by doubling as bytes arrive, so a damaged length field asking for a
                // gigabyte costs only what the input really holds.
                buffer.append(contentsOf: repeatElement(0, count: min(count, buffer.count * 2) - buffer.count))
            }
            let got = try fill(loaded, buffer.count - loaded)
            if got == 0 { ended = true } else { loaded += got }
            if loaded >= count && loaded >= buffer.count / 2 { break }
        }
        return count <= loaded
    }

    private mutating func fill(_ at: Int, _ count: Int) throws -> Int {
        let source = self.source
        return try buffer.withUnsafeMutableBytes { raw in
            try source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + count)]))
        }
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
    /// - Returns: bytes available from `offset` afterwards.
    @discardableResult
    public mutating func refill(from offset: Int64, atLeast: Int) throws -> Int {
        _ = try load(offset, max(atLeast, 1))
        return available(from: offset)
    }
}
