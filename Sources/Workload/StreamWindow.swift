import StoreCore

/// A `ByteSource` (a trace or import file, decompressed as it is read) as a window's source: read
/// front to back only, its end known when a read returns 0.
public struct StreamSource: WindowSource {
    public let stream: ByteSource

    public var knownSize: Int64? { nil }
    public var isPositional: Bool { false }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try stream.read(into: buffer)
    }
}

/// Reads a trace or import file front to back through one buffer, compressed input or not;
/// offsets are offsets in the decompressed stream and only move forward.
public typealias StreamWindow = ByteWindow<StreamSource>

extension ByteWindow where Source == StreamSource {
    public init(source: ByteSource, capacity: Int = 1 << 20) {
        self.init(source: StreamSource(stream: source), capacity: capacity)
    }

    public var path: String { source.stream.path }
}
