import StoreCore

/// A file's bytes read front to back, decompressed when the file is compressed. The readers
/// (`StreamWindow` and the parsers above it) see one plain byte stream whatever the file holds.
public class ByteSource: @unchecked Sendable {
    public let path: String
    /// `zstd`, `gzip` or `nil` for a plain file.
    public let compression: String?

    init(path: String, compression: String?) {
        self.path = path
        self.compression = compression
    }

    /// Fills the front of `buffer` with the next bytes of the stream.
    /// - Returns: how many bytes were written; 0 only at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { 0 }

    /// Bytes of the file itself consumed so far (the compressed offset for compressed files).
    var fileOffset: Int64 { 0 }

    /// Opens `path`, recognising zstd and gzip by their magic bytes (not by the file's name).
    public static func open(_ path: String, fileSystem: any FileSystem = PosixFileSystem()) throws -> ByteSource {
        let file = try StorageDirectory.openFile(path, fileSystem: fileSystem)
        let size = try file.size()
        let magic = try file.read(count: 4, at: 0)
        if magic.count == 4 {
            let word = UInt32(magic[0]) | UInt32(magic[1]) << 8 | UInt32(magic[2]) << 16 | UInt32(magic[3]) << 24
            // A zstd frame, or a skippable frame (0x184D2A50…5F) that zstd also reads past.
            if word == 0xFD2F_B528 || word & 0xFFFF_FFF0 == 0x184D_2A50 {
                return try ZstdSource(path: path, file: file, size: size)
            }
        }
        if magic.count >= 2, magic[0] == 0x1F, magic[1] == 0x8B {
            return try GzipSource(path: path, file: file, size: size)
        }
        return PlainSource(path: path, file: file, size: size)
    }

    /// The compression `open` would recognise in `path` (`nil`: plain, or unreadable).
    public static func compression(of path: String) -> String? {
        (try? open(path))?.compression
    }
}

/// An uncompressed file, read sequentially.
final class PlainSource: ByteSource, @unchecked Sendable {
    let file: DurableFile
    let size: Int64
    private var offset: Int64 = 0

    init(path: String, file: DurableFile, size: Int64) {
        self.file = file
        self.size = size
        super.init(path: path, compression: nil)
    }

    override func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let want = Int(min(Int64(buffer.count), size - offset))
        guard want > 0 else { return 0 }
        let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: offset)
        offset += Int64(got)
        return got
    }

    override var fileOffset: Int64 { offset }

    deinit { file.close() }
}

/// Compressed input read in pieces from the file, for the decompressors.
struct CompressedInput {
    let file: DurableFile
    let size: Int64
    var buffer: [UInt8]
    /// File offset of `buffer[0]`; `[position, filled)` is not consumed yet.
    var bufferStart: Int64 = 0
    var position = 0
    var filled = 0

    init(file: DurableFile, size: Int64, capacity: Int) {
        self.file = file
        self.size = size
        buffer = [UInt8](repeating: 0, count: capacity)
    }

    var consumedOffset: Int64 { bufferStart + Int64(position) }
    var isExhausted: Bool { position == filled && bufferStart + Int64(filled) >= size }

    /// Reads the next piece once the current one is consumed.
    mutating func refillIfConsumed() throws {
        guard position == filled else { return }
        bufferStart += Int64(filled)
        position = 0
        filled = 0
        let want = Int(min(Int64(buffer.count), size - bufferStart))
        guard want > 0 else { return }
        let file = self.file
        filled = try buffer.withUnsafeMutableBytes { raw in
            try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: bufferStart)
        }
    }
}
