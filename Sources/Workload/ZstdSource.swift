import CZstd
import StoreCore

/// A zstd-compressed file decompressed as a stream (`ZSTD_decompressStream`): memory stays at
/// zstd's window plus one input buffer, whatever the file's size. Concatenated frames are read
/// one after the other, as `zstd -d` does.
final class ZstdSource: ByteSource, @unchecked Sendable {
    private var input: CompressedInput
    private let stream: OpaquePointer
    /// What the last call returned: 0 once a frame is complete and flushed.
    private var frameHint = 0
    private var producedAny = false

    init(path: String, file: DurableFile, size: Int64) throws {
        input = CompressedInput(file: file, size: size, capacity: ZSTD_DStreamInSize())
        guard let stream = ZSTD_createDStream() else {
            throw WorkloadError.malformedCompression(file: path, offset: 0, reason: "zstd could not allocate a decompression stream")
        }
        self.stream = stream
        ZSTD_initDStream(stream)
        super.init(path: path, compression: "zstd")
    }

    deinit {
        ZSTD_freeDStream(stream)
        input.file.close()
    }

    override var fileOffset: Int64 { input.consumedOffset }

    override func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        var stalls = 0
        while true {
            try input.refillIfConsumed()
            if input.isExhausted {
                // A frame whose end never came: the file is cut off.
                guard frameHint == 0 else {
                    throw WorkloadError.malformedCompression(
                        file: path, offset: input.size, reason: "zstd stream cut off (the file ends inside a frame)")
                }
                return 0
            }
            let before = input.position
            let (filled, stream) = (input.filled, self.stream)
            let (result, consumed, produced) = input.buffer.withUnsafeBytes { raw -> (Int, Int, Int) in
                var source = ZSTD_inBuffer(src: raw.baseAddress, size: filled, pos: before)
                var target = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let result = ZSTD_decompressStream(stream, &target, &source)
                return (result, source.pos, target.pos)
            }
            input.position = consumed
            if ZSTD_isError(result) != 0 {
                let name = String(cString: ZSTD_getErrorName(result))
                throw WorkloadError.malformedCompression(
                    file: path, offset: input.bufferStart + Int64(before), reason: "zstd data is corrupt (\(name))")
            }
            frameHint = result
            if produced > 0 {
                producedAny = true
                return produced
            }
            // zstd always consumes or produces while both buffers have room; guard against a loop.
            if input.position == before {
                stalls += 1
                if stalls > 2 {
                    throw WorkloadError.malformedCompression(file: path, offset: input.consumedOffset, reason: "zstd made no progress")
                }
            }
        }
    }
}
