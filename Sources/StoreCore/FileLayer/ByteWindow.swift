/// Where a `ByteWindow` reads its bytes: a file, at any offset, or a stream, front to back.
public protocol WindowSource {
    associatedtype Failure: Error
    /// The total number of bytes when known ahead (a file); `nil` for a stream, which ends when a
    /// read returns 0.
    var knownSize: Int64? { get }
    /// Whether `read` takes any offset (a file) or only the one just past the bytes it last
    /// returned (a stream).
    var isPositional: Bool { get }
    /// Reads up to `buffer.count` bytes from `offset`.
    /// - Returns: how many bytes were read; 0 only at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Failure) -> Int
}

/// Reads a source through one buffer (1 MiB by default, grown for larger records), so that
/// parsers see contiguous bytes in constant memory: `log` segments and tombstone files, trace
/// files and text imports (compressed or not). Offsets are absolute offsets in the source.
public struct ByteWindow<Source: WindowSource> {
    public private(set) var source: Source
    @usableFromInline var buffer: [UInt8]
    /// Source offset of `buffer[0]`, and how many bytes from there are loaded.
    @usableFromInline var start: Int64 = 0
    @usableFromInline var loaded = 0
    /// Whether the source returned its last byte at `start + loaded`.
    public private(set) var ended = false

    public init(source: Source, capacity: Int = 1 << 20) {
        self.source = source
        let size = source.knownSize.map { Int(clamping: $0) } ?? capacity
        buffer = [UInt8](repeating: 0, count: max(1, min(capacity, size)))
    }

    /// Bytes loaded from `offset` on (to the end of what the buffer holds).
    @inlinable @inline(__always)
    public func available(from offset: Int64) -> Int {
        offset >= start && offset <= start + Int64(loaded) ? Int(start + Int64(loaded) - offset) : 0
    }

    /// Makes `[offset, offset + count)` loaded, reading ahead as far as the buffer allows.
    /// - Returns: `false` when the source ends first.
    @inline(__always)
    public mutating func ensure(_ offset: Int64, _ count: Int) throws(Source.Failure) -> Bool {
        if offset >= start && offset + Int64(count) <= start + Int64(loaded) { return true }
        return try load(offset, count)
    }

    /// Whether the source ends exactly at `offset`.
    public mutating func isEnd(at offset: Int64) throws(Source.Failure) -> Bool {
        !(try ensure(offset, 1))
    }

    /// Loads as much as the buffer holds from `offset`, growing it when `atLeast` more bytes are
    /// needed than it can take.
    /// - Returns: bytes available from `offset` afterwards.
    @discardableResult
    public mutating func refill(from offset: Int64, atLeast: Int) throws(Source.Failure) -> Int {
        var count = max(atLeast, 1)
        if let size = source.knownSize { count = Int(min(Int64(count), max(0, size - offset))) }
        _ = try load(offset, count)
        return available(from: offset)
    }

    /// Whether every byte from `offset` to the end of the source is zero (the preallocated tail
    /// of a file, or an append the crash stopped after its first sectors).
    public mutating func onlyZeros(from offset: Int64) throws(Source.Failure) -> Bool {
        var cursor = offset
        while true {
            let count = try refill(from: cursor, atLeast: 1)
            if count == 0 { return true }
            if withBytes(cursor, count, { $0.contains { $0 != 0 } }) { return false }
            cursor += Int64(count)
        }
    }

    private mutating func load(_ offset: Int64, _ count: Int) throws(Source.Failure) -> Bool {
        if let size = source.knownSize, offset + Int64(count) > size { return false }
        if offset < start || offset > start + Int64(loaded) {
            if source.isPositional {
                (start, loaded, ended) = (offset, 0, false)
            } else {
                try skip(to: offset)
            }
        }
        // Keep what is already loaded past `offset`, at the front; read only the rest.
        let kept = Int(start + Int64(loaded) - offset)
        let from = Int(offset - start)
        if kept > 0 && from > 0 {
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + from, byteCount: kept)
            }
        }
        start = offset
        loaded = kept
        // A known size bounds `count`, so the buffer grows to it at once.
        if source.knownSize != nil && count > buffer.count {
            buffer.append(contentsOf: repeatElement(0, count: count - buffer.count))
        }
        while !ended {
            if loaded == buffer.count {
                guard loaded < count else { break }
                // A stream's buffer grows by doubling as bytes arrive, so a damaged length field
                // asking for a gigabyte costs only what the input really holds.
                buffer.append(contentsOf: repeatElement(0, count: min(count, buffer.count * 2) - buffer.count))
            }
            var want = buffer.count - loaded
            if let size = source.knownSize {
                want = Int(min(Int64(want), size - start - Int64(loaded)))
                if want == 0 { break }
            }
            let got = try fill(loaded, want)
            if got == 0 { ended = true } else { loaded += got }
            if loaded >= count && loaded >= buffer.count / 2 { break }
        }
        return count <= loaded
    }

    /// Reads a stream forward to `offset`, dropping what lies before it.
    private mutating func skip(to offset: Int64) throws(Source.Failure) {
        precondition(offset >= start, "a stream is read forward only")
        while offset > start + Int64(loaded) {
            start += Int64(loaded)
            loaded = 0
            guard !ended else { return }
            let got = try fill(0, Int(min(Int64(buffer.count), offset - start)))
            if got == 0 { ended = true }
            loaded = got
        }
    }

    private mutating func fill(_ at: Int, _ count: Int) throws(Source.Failure) -> Int {
        let offset = start + Int64(at)
        var source = self.source
        defer { self.source = source }
        // `withUnsafeMutableBytes` only rethrows untyped errors: carry the typed one out in a Result.
        let result = buffer.withUnsafeMutableBytes { raw in
            Result { () throws(Source.Failure) -> Int in
                try source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + count)]), at: offset)
            }
        }
        return try result.get()
    }

    /// Calls `body` with loaded bytes `[offset, offset + count)` (after `ensure` returned `true`).
    @inlinable @inline(__always)
    public func withBytes<T>(_ offset: Int64, _ count: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let from = Int(offset - start)
        return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[from..<(from + count)])) }
    }

    /// Calls `body` with every loaded byte from `offset` on.
    @inlinable @inline(__always)
    public func withAvailableBytes<T>(from offset: Int64, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try withBytes(offset, available(from: offset), body)
    }
}

/// A file read through a window at any offset, its size taken when the window is made.
public struct FileSource: WindowSource {
    public let file: DurableFile
    public let size: Int64

    public var knownSize: Int64? { size }
    public var isPositional: Bool { true }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(StoreError) -> Int {
        try file.read(into: buffer, at: offset)
    }
}

/// Reads a file front to back (or at any offset) through one buffer: `log` segments, tombstones.
public typealias FileWindow = ByteWindow<FileSource>

extension ByteWindow where Source == FileSource {
    public init(file: DurableFile, size: Int64, capacity: Int = 1 << 20) {
        self.init(source: FileSource(file: file, size: size), capacity: capacity)
    }
}
