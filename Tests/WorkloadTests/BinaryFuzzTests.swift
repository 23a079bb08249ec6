import Foundation
import StoreCore
import StoreTestSupport
import Testing
@testable import Workload

/// Random mutations and truncations of valid binary inputs: each one either decodes or throws a
/// `WorkloadError` whose offset lies inside the input (compressed offsets inside the compressed
/// file, trace offsets inside the bytes the decompressor produced) — never a crash, a hang or
/// another kind of error.
@Suite("Binary reader fuzzing")
struct BinaryFuzzTests {
    enum Reader: String, CaseIterable {
        case oracleGeneral, rocksdbTrace, nativeTrace, zstdTrace, gzipTrace
    }

    /// A valid input for `reader`.
    func seedInput(_ reader: Reader, scratch: ScratchDirectory) throws -> [UInt8] {
        switch reader {
        case .oracleGeneral:
            var requests: [(time: UInt32, id: UInt64, size: UInt32)] = []
            for index in 0..<40 { requests.append((UInt32(index / 4), UInt64(index % 7), UInt32(index * 13))) }
            return oracleRecords(requests)
        case .rocksdbTrace:
            var builder = RocksDBTraceBuilder()
            for index in 0..<12 {
                builder.get("key\(index)", at: UInt64(index))
                builder.write([(0x1, nil, "p\(index)", index * 3), (0x0, nil, "d\(index)", nil), (0x5, 2, "c\(index)", 4)], at: UInt64(index))
            }
            var multiget = RocksDBTraceBuilder.fixed64(1 << 8 | 1 << 9 | 1 << 10) + RocksDBTraceBuilder.fixed32(2)
            multiget += RocksDBTraceBuilder.prefixed(RocksDBTraceBuilder.fixed32(0) + RocksDBTraceBuilder.fixed32(0))
            multiget += RocksDBTraceBuilder.prefixed(RocksDBTraceBuilder.prefixed(bytes("m1")) + RocksDBTraceBuilder.prefixed(bytes("m2")))
            builder.record(type: 13, timestamp: 20, payload: multiget)
            builder.record(type: 5, timestamp: 21, payload: RocksDBTraceBuilder.fixed64(1 << 4 | 1 << 5 | 1 << 6)
                + RocksDBTraceBuilder.fixed32(0) + RocksDBTraceBuilder.prefixed(bytes("s")) + RocksDBTraceBuilder.prefixed(bytes("a")))
            builder.footer(at: 22)
            return builder.bytes
        case .nativeTrace, .zstdTrace, .gzipTrace:
            let path = scratch.child("seed.trace")
            let writer = try TraceWriter(path: path, header: TraceHeader([("source", "fuzz")]))
            for index in 0..<300 {
                try writer.append(WorkloadOperation(index % 3 == 0 ? .get : .put, key: bytes("key\(index % 50)"), valueSize: index,
                                                    timestamp: UInt64(index) * 7))
            }
            try writer.finish()
            let plain = try contents(of: path)
            return reader == .nativeTrace ? plain : reader == .zstdTrace ? Compression.zstd(plain) : Compression.gzip(plain)
        }
    }

    func mutate(_ base: [UInt8], _ random: inout SeededRandom) -> [UInt8] {
        var input = base
        switch random.below(5) {
        case 0:
            for _ in 0..<(1 + random.below(4)) where !input.isEmpty { input[random.below(input.count)] = UInt8(random.below(256)) }
        case 1:
            input = Array(input.prefix(random.below(input.count + 1)))
        case 2:
            let at = random.below(input.count + 1)
            input.insert(contentsOf: random.bytes(1 + random.below(30)), at: at)
        case 3:
            let from = random.below(input.count)
            input.removeSubrange(from..<min(input.count, from + 1 + random.below(40)))
        default:
            // A flipped bit, then cut: damage and truncation together.
            if !input.isEmpty { input[random.below(input.count)] ^= UInt8(1 << random.below(8)) }
            input = Array(input.prefix(input.count - random.below(min(input.count, 24) + 1)))
        }
        return input
    }

    /// Bytes the decompressor yields from `path` before the end or its first error.
    func decompressedLength(_ path: String) -> Int64 {
        guard let source = try? ByteSource.open(path) else { return 0 }
        var total: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while let got = try? buffer.withUnsafeMutableBytes({ try source.read(into: $0) }), got > 0 { total += Int64(got) }
        return total
    }

    @Test("mutated and truncated inputs decode or fail with an offset inside the input", arguments: Reader.allCases)
    func fuzz(reader: Reader) throws {
        let scratch = try ScratchDirectory("binary-fuzz-\(reader.rawValue)")
        let base = try seedInput(reader, scratch: scratch)
        let path = scratch.child("input")
        var random = SeededRandom(seed: UInt64(reader.rawValue.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        var decoded = 0
        var rejected = 0
        // The seed itself decodes.
        try write(base, to: path)
        _ = try readAll(reader, path)
        for _ in 0..<400 {
            let input = mutate(base, &random)
            try write(input, to: path)
            do {
                let count = try readAll(reader, path)
                #expect(count < 100_000)
                decoded += 1
            } catch let error as WorkloadError {
                rejected += 1
                switch error {
                case let .malformedTrace(file, offset, _):
                    #expect(file == path)
                    let limit = reader == .zstdTrace || reader == .gzipTrace ? decompressedLength(path) : Int64(input.count)
                    #expect(offset >= 0 && offset <= limit, "\(error) (input of \(input.count) bytes, limit \(limit))")
                case let .malformedCompression(file, offset, _):
                    #expect(file == path)
                    #expect(reader == .zstdTrace || reader == .gzipTrace, "\(error)")
                    #expect(offset >= 0 && offset <= Int64(input.count), "\(error) (input of \(input.count) bytes)")
                default:
                    Issue.record("unexpected error \(error)")
                }
            } catch {
                Issue.record("\(reader): not a WorkloadError: \(error)")
            }
        }
        // Both outcomes happen: mutations are not all caught at the header, nor all harmless.
        #expect(rejected > 20, "\(reader): \(rejected) rejected, \(decoded) decoded")
        if reader != .nativeTrace && reader != .zstdTrace && reader != .gzipTrace {
            #expect(decoded > 20, "\(reader): \(rejected) rejected, \(decoded) decoded")
        }
    }

    func readAll(_ reader: Reader, _ path: String) throws -> Int {
        var operation = WorkloadOperation(.get)
        var count = 0
        switch reader {
        case .oracleGeneral, .rocksdbTrace:
            var importer = try Importer(path: path, format: reader == .oracleGeneral ? .oracleGeneral : .rocksdbTrace)
            while try importer.next(into: &operation) {
                count += 1
                if count >= 100_000 { break }
            }
        case .nativeTrace, .zstdTrace, .gzipTrace:
            var trace = try TraceReader(path: path)
            while try trace.next(into: &operation) {
                count += 1
                if count >= 100_000 { break }
            }
        }
        return count
    }
}
