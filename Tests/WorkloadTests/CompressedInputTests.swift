import Foundation
import StoreCore
import StoreTestSupport
import Testing
@testable import Workload

@Suite("Compressed inputs")
struct CompressedInputTests {
    /// A trace big enough to span several reader windows and compressed frames.
    func sampleTrace(_ path: String, count: Int = 60_000) throws -> [WorkloadOperation] {
        var random = SeededRandom(seed: 42)
        var operations: [WorkloadOperation] = []
        let writer = try TraceWriter(path: path, header: TraceHeader([("source", "compressed-test")]))
        for index in 0..<count {
            let key = bytes("user\(random.below(5000))")
            let operation = index % 4 == 0
                ? WorkloadOperation(.put, key: key, valueSize: random.below(2000), timestamp: UInt64(index) * 10)
                : WorkloadOperation(.get, key: key, timestamp: UInt64(index) * 10)
            operations.append(operation)
            try writer.append(operation)
        }
        try writer.finish()
        return operations
    }

    func readTrace(_ path: String) throws -> [WorkloadOperation] {
        var reader = try TraceReader(path: path)
        var operation = WorkloadOperation(.get)
        var result: [WorkloadOperation] = []
        while try reader.next(into: &operation) { result.append(operation) }
        return result
    }

    @Test("a trace compressed with zstd or gzip reads like the plain one, whatever the file's name",
          arguments: ["zstd", "gzip", "zstd-frames", "gzip-members"])
    func traceRoundTrip(kind: String) throws {
        let scratch = try ScratchDirectory("compressed-\(kind)")
        let plain = scratch.child("plain.trace")
        let expected = try sampleTrace(plain)
        let raw = try contents(of: plain)
        let half = raw.count / 2
        let compressed: [UInt8] = switch kind {
        case "zstd": Compression.zstd(raw)
        case "gzip": Compression.gzip(raw)
        // Concatenated frames and members, as `cat a.zst b.zst` or pigz produce.
        case "zstd-frames": Compression.zstd(Array(raw[..<half])) + Compression.zstd(Array(raw[half...]))
        default: Compression.gzip(Array(raw[..<half])) + Compression.gzip(Array(raw[half...]))
        }
        // No telling extension: the magic bytes decide.
        let path = scratch.child("renamed.bin")
        try write(compressed, to: path)
        #expect(compressed.count < raw.count / 2)
        #expect(try ByteSource.open(path).compression == (kind.hasPrefix("zstd") ? "zstd" : "gzip"))
        #expect(try readTrace(path) == expected)
        #expect(TraceReader.isTrace(path: path))
        var importer = try Importer(path: path, format: .trace)
        var operation = WorkloadOperation(.get)
        var count = 0
        while try importer.next(into: &operation) { count += 1 }
        #expect(count == expected.count)
    }

    @Test("text importers read compressed files", arguments: ["zstd", "gzip"])
    func textImport(kind: String) throws {
        let scratch = try ScratchDirectory("compressed-text-\(kind)")
        var text = ""
        for index in 0..<20_000 { text += "\(index / 100),key-\(index % 777),8,\(index % 300),1,\(index % 3 == 0 ? "set" : "get"),0\n" }
        let plain = scratch.child("plain.csv")
        try write(Array(text.utf8), to: plain)
        let path = scratch.child("trace.csv." + (kind == "zstd" ? "zst" : "gz"))
        try write(kind == "zstd" ? Compression.zstd(Array(text.utf8)) : Compression.gzip(Array(text.utf8)), to: path)
        let (_, expected) = try importAll(plain, .twitter)
        let (importer, actual) = try importAll(path, .twitter)
        #expect(actual == expected)
        #expect(actual.count == 20_000)
        #expect(importer.header["compression"] == (kind == "zstd" ? "zstd" : "gzip"))
    }

    @Test("a cut-off compressed file is an error naming the file and the compressed offset", arguments: ["zstd", "gzip"])
    func truncated(kind: String) throws {
        let scratch = try ScratchDirectory("compressed-cut-\(kind)")
        let plain = scratch.child("plain.trace")
        _ = try sampleTrace(plain, count: 20_000)
        let raw = try contents(of: plain)
        let compressed = kind == "zstd" ? Compression.zstd(raw) : Compression.gzip(raw)
        let path = scratch.child("cut")
        try write(Array(compressed.prefix(compressed.count * 2 / 3)), to: path)
        do {
            _ = try readTrace(path)
            Issue.record("a cut-off \(kind) trace was read to its end")
        } catch let WorkloadError.malformedCompression(file, offset, reason) {
            #expect(file == path)
            #expect(offset == Int64(compressed.count * 2 / 3))
            #expect(reason.contains("cut off"))
        }
    }

    @Test("corrupt compressed data is an error with an offset inside the file", arguments: ["zstd", "gzip"])
    func corrupt(kind: String) throws {
        let scratch = try ScratchDirectory("compressed-bad-\(kind)")
        let plain = scratch.child("plain.trace")
        _ = try sampleTrace(plain, count: 20_000)
        let raw = try contents(of: plain)
        var compressed = kind == "zstd" ? Compression.zstd(raw) : Compression.gzip(raw)
        let path = scratch.child("bad")
        // Damage a run of bytes in the middle of the compressed data.
        for index in (compressed.count / 2)..<(compressed.count / 2 + 16) { compressed[index] ^= 0x5A }
        try write(compressed, to: path)
        do {
            _ = try readTrace(path)
            Issue.record("a damaged \(kind) trace was read to its end")
        } catch let WorkloadError.malformedCompression(file, offset, _) {
            #expect(file == path)
            #expect(offset >= 0 && offset <= Int64(compressed.count))
        } catch let WorkloadError.malformedTrace(file, _, reason) {
            // Damage the decompressor cannot see (zstd's checksum is off by default) reaches the
            // trace's own checksums.
            #expect(file == path)
            #expect(reason.contains("decompressed"))
        }
    }
}
