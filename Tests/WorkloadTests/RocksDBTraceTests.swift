import Foundation
import StoreCore
import StoreTestSupport
import Testing
@testable import Workload
#if canImport(RocksDBTraceHelper)
import RocksDBTraceHelper
#endif

/// Builds RocksDB binary query traces the way trace_replay.cc encodes them, for the cases a real
/// RocksDB would not write on demand (old versions, damaged or unknown records).
struct RocksDBTraceBuilder {
    var bytes: [UInt8] = []
    let version: String

    init(version: String = "0.2") {
        self.version = version
        record(type: 1, timestamp: 1000, payload: Array("feedcafedeadbeef\tTrace Version: \(version)\tRocksDB Version: 7.8\tFormat: Timestamp OpType Payload\n".utf8))
    }

    mutating func record(type: UInt8, timestamp: UInt64, payload: [UInt8]) {
        withUnsafeBytes(of: timestamp.littleEndian) { bytes += $0 }
        bytes.append(type)
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { bytes += $0 }
        bytes += payload
    }

    static func fixed32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func fixed64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func varint(_ value: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendVarint(value)
        return bytes
    }
    static func prefixed(_ value: [UInt8]) -> [UInt8] { varint(value.count) + value }

    mutating func get(_ key: String, cf: UInt32 = 0, at timestamp: UInt64) {
        let payload = version == "0.1"
            ? Self.fixed32(cf) + Self.prefixed(Array(key.utf8))
            : Self.fixed64(1 << 2 | 1 << 3) + Self.fixed32(cf) + Self.prefixed(Array(key.utf8))
        record(type: 4, timestamp: timestamp, payload: payload)
    }

    /// A write batch: `(tag, column family or nil, key, value or nil)` entries.
    mutating func write(_ entries: [(UInt8, UInt32?, String, Int?)], at timestamp: UInt64) {
        var batch = Self.fixed64(1) + Self.fixed32(UInt32(entries.count))
        for (tag, cf, key, value) in entries {
            batch.append(tag)
            if let cf { batch += Self.varint(Int(cf)) }
            batch += Self.prefixed(Array(key.utf8))
            if let value { batch += Self.prefixed([UInt8](repeating: 0x61, count: value)) }
        }
        record(type: 3, timestamp: timestamp, payload: version == "0.1" ? batch : Self.fixed64(1 << 1) + Self.prefixed(batch))
    }

    mutating func footer(at timestamp: UInt64) {
        record(type: 2, timestamp: timestamp, payload: Self.fixed64(1))
    }
}

@Suite("RocksDB binary traces")
struct RocksDBTraceTests {
    func importAll(_ path: String, _ options: ImportOptions = ImportOptions()) throws -> (Importer, [WorkloadOperation]) {
        var importer = try Importer(path: path, format: .rocksdbTrace, options: options)
        var operation = WorkloadOperation(.get)
        var result: [WorkloadOperation] = []
        while try importer.next(into: &operation) { result.append(operation) }
        return (importer, result)
    }

    #if canImport(RocksDBTraceHelper)
    @Test("a trace written by RocksDB's own DB::StartTrace imports op by op")
    func writtenByRocksDB() throws {
        let scratch = try ScratchDirectory("rocksdb-real-trace")
        let tracePath = scratch.child("queries.trace")
        var error = [CChar](repeating: 0, count: 512)
        let status = storebench_write_rocksdb_trace(scratch.child("db"), tracePath, &error, error.count)
        let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try #require(status == 0, "\(reason)")
        #expect(InputFormat.recognise(tracePath) == .rocksdbTrace)
        let (importer, operations) = try importAll(tracePath)
        #expect(importer.header["rocksdb_trace_version"] == "2")
        #expect(importer.header["rocksdb_version"]?.hasPrefix("7.") == true)
        let summary = operations.map { operation -> String in
            let key = String(decoding: operation.key, as: UTF8.self)
            switch operation.kind {
            case .put: return "put \(key) \(operation.valueSize)"
            case .scan: return "scan \(key) \(operation.scanCount)"
            case .begin, .commit: return operation.kind.description
            default: return "\(operation.kind) \(key)"
            }
        }
        #expect(summary == [
            "put alpha 100", "put beta 2000", "get alpha",
            "begin", "put gamma 30", "delete alpha", "delete beta", "put delta 7", "commit",
            "put epsilon 5", "delete gamma",
            "scan b 10", "scan z 10",
            "get alpha", "get beta", "get delta",
            "get epsilon",
        ])
        // RocksDB's clock: microseconds, in order.
        let times = operations.compactMap(\.timestamp)
        #expect(times.count == operations.count)
        #expect(times == times.sorted())
        // A trace RocksDB wrote, compressed, reads the same.
        let compressed = scratch.child("queries.trace.zst")
        try write(Compression.zstd(try contents(of: tracePath)), to: compressed)
        #expect(try importAll(compressed).1 == operations)
    }
    #endif

    @Test("version 0.1 traces (no payload map) and column-family variants map to one keyspace")
    func oldVersionAndFamilies() throws {
        let scratch = try ScratchDirectory("rocksdb-v1")
        var builder = RocksDBTraceBuilder(version: "0.1")
        builder.get("k1", cf: 3, at: 2000)
        builder.write([(0x5, 3, "k2", 40), (0x4, 3, "k1", nil), (0x8, 2, "k3", nil), (0x6, 1, "k4", 9)], at: 2001)
        builder.write([(0x1, nil, "solo", 12)], at: 2002)
        let path = scratch.child("old.trace")
        try write(builder.bytes, to: path)
        let (importer, operations) = try importAll(path, ImportOptions(merge: .rmw))
        #expect(importer.header["rocksdb_trace_version"] == "1")
        #expect(operations == [
            WorkloadOperation(.get, key: bytes("k1"), timestamp: 2000),
            WorkloadOperation(.begin, timestamp: 2001),
            WorkloadOperation(.put, key: bytes("k2"), valueSize: 40, timestamp: 2001),
            WorkloadOperation(.delete, key: bytes("k1"), timestamp: 2001),
            WorkloadOperation(.delete, key: bytes("k3"), timestamp: 2001),
            WorkloadOperation(.readModifyWrite, key: bytes("k4"), valueSize: 9, timestamp: 2001),
            WorkloadOperation(.commit, timestamp: 2001),
            WorkloadOperation(.put, key: bytes("solo"), valueSize: 12, timestamp: 2002),
        ])
    }

    @Test("unknown record types and range deletions: an error with the offset, or skipped and counted under --skip-bad")
    func badRecords() throws {
        let scratch = try ScratchDirectory("rocksdb-bad")
        var builder = RocksDBTraceBuilder()
        builder.get("a", at: 10)
        let unknownAt = builder.bytes.count
        builder.record(type: 77, timestamp: 11, payload: [1, 2, 3])
        builder.get("b", at: 12)
        let rangeAt = builder.bytes.count
        builder.write([(0xF, nil, "a", 1)], at: 13)
        builder.write([(0x2, nil, "m", 3)], at: 14)
        builder.footer(at: 15)
        let path = scratch.child("bad.trace")
        try write(builder.bytes, to: path)
        #expect(throws: WorkloadError.malformedTrace(file: path, offset: Int64(unknownAt), reason: "unknown record type 77")) {
            _ = try importAll(path)
        }
        let (importer, operations) = try importAll(path, ImportOptions(skipBad: 2))
        #expect(operations.map(\.key) == [bytes("a"), bytes("b"), bytes("m")])
        #expect(importer.skipped == 2)
        #expect(importer.skippedExamples[1] == "\(path): byte \(rangeAt): write batch: range deletions are not supported")
        // --merge error makes the merge a third bad record.
        #expect(throws: WorkloadError.self) { _ = try importAll(path, ImportOptions(skipBad: 2, merge: .error)) }
    }

    @Test("a trace cut inside a record names the record's offset; without a footer it ends at a record boundary")
    func truncated() throws {
        let scratch = try ScratchDirectory("rocksdb-cut")
        var builder = RocksDBTraceBuilder()
        builder.get("a", at: 10)
        let lastAt = builder.bytes.count
        builder.get("bb", at: 11)
        let path = scratch.child("open.trace")
        try write(builder.bytes, to: path)
        #expect(try importAll(path).1.count == 2)
        try write(Array(builder.bytes.dropLast(3)), to: path)
        #expect(throws: WorkloadError.malformedTrace(file: path, offset: Int64(lastAt), reason: "record of type 4 with a 15-byte payload is cut off")) {
            _ = try importAll(path)
        }
    }
}
