import CZlib
import StoreCore

/// A gzip file inflated as a stream (zlib, `windowBits` 15+32: gzip or zlib header detected):
/// memory stays at zlib's 32 KiB window plus one input buffer. Concatenated members are read one
/// after the other, as `gzip -d` does.
final class GzipSource: ByteSource, @unchecked Sendable {
    private var input: CompressedInput
    /// zlib's state points back at its `z_stream`, so that lives at one address.
    private let stream: UnsafeMutablePointer<z_stream>
    /// Whether the current member has ended (the next bytes, if any, start another one).
    private var memberEnded = false

    init(path: String, file: DurableFile, size: Int64) throws {
        input = CompressedInput(file: file, size: size, capacity: 256 << 10)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        super.init(path: path, compression: "gzip")
        let status = inflateInit2_(stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            throw WorkloadError.malformedCompression(file: path, offset: 0, reason: "zlib could not start inflating (status \(status))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.file.close()
    }

    override var fileOffset: Int64 { input.consumedOffset }

    override func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            try input.refillIfConsumed()
            if input.isExhausted {
                guard memberEnded else {
                    throw WorkloadError.malformedCompression(
                        file: path, offset: input.size, reason: "gzip stream cut off (the file ends inside a member)")
                }
                return 0
            }
            if memberEnded {
                inflateReset(stream)
                memberEnded = false
            }
            let before = input.position
            let available = input.filled - input.position
            let room = min(buffer.count, Int(UInt32.max))
            let state = stream
            let status = input.buffer.withUnsafeBytes { raw -> Int32 in
                state.pointee.next_in = UnsafeMutablePointer(mutating: raw.baseAddress!.assumingMemoryBound(to: Bytef.self)) + before
                state.pointee.avail_in = uInt(available)
                state.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
                state.pointee.avail_out = uInt(room)
                return inflate(state, Z_NO_FLUSH)
            }
            input.position += available - Int(state.pointee.avail_in)
            let produced = room - Int(state.pointee.avail_out)
            state.pointee.next_in = nil
            state.pointee.next_out = nil
            switch status {
            case Z_OK, Z_BUF_ERROR:
                break
            case Z_STREAM_END:
                memberEnded = true
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
                throw WorkloadError.malformedCompression(
                    file: path, offset: input.bufferStart + Int64(before), reason: "gzip data is corrupt (\(message))")
            }
            if produced > 0 { return produced }
            if status == Z_BUF_ERROR && input.position == before && available > 0 {
                throw WorkloadError.malformedCompression(file: path, offset: input.consumedOffset, reason: "zlib made no progress")
            }
        }
    }
}
