import Foundation
import StoreCore
import StoreTestSupport
import Testing
@testable import Workload

/// Builds libCacheSim oracleGeneral records: `uint32 clock_time; uint64 obj_id; uint32 obj_size;
/// int64 next_access_vtime`, packed little-endian.
func oracleRecords(_ requests: [(time: UInt32, id: UInt64, size: UInt32)]) -> [UInt8] {
    var bytes: [UInt8] = []
    for request in requests {
        withUnsafeBytes(of: request.time.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: request.id.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: request.size.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: Int64(-1).littleEndian) { bytes += $0 }
    }
    return bytes
}

func objectKey(_ id: UInt64) -> [UInt8] {
    withUnsafeBytes(of: id.bigEndian) { Array($0) }
}

@Suite("libCacheSim oracleGeneral traces")
struct OracleGeneralTests {
    static let requests: [(time: UInt32, id: UInt64, size: UInt32)] = [
        (10, 7, 100), (10, 8, 4096), (11, 7, 100), (13, 0xDEAD_BEEF_0000_0001, 1), (13, 8, 4096),
    ]

    func importAll(_ path: String, _ options: ImportOptions = ImportOptions()) throws -> (Importer, [WorkloadOperation]) {
        var importer = try Importer(path: path, format: .oracleGeneral, options: options)
        var operation = WorkloadOperation(.get)
        var result: [WorkloadOperation] = []
        while try importer.next(into: &operation) { result.append(operation) }
        return (importer, result)
    }

    @Test("requests become gets of the object id, timed in seconds")
    func reads() throws {
        let scratch = try ScratchDirectory("oracle-reads")
        let path = scratch.child("w.oracleGeneral.bin")
        try write(oracleRecords(Self.requests), to: path)
        let (importer, operations) = try importAll(path)
        #expect(operations == Self.requests.map { WorkloadOperation(.get, key: objectKey($0.id), timestamp: UInt64($0.time) * 1_000_000) })
        #expect(importer.hasSecondTimestamps)
        #expect(InputFormat.recognise(path) == .oracleGeneral)
    }

    @Test("--as cache: an object's first request is a get and a put of its size; later ones gets")
    func cache() throws {
        let scratch = try ScratchDirectory("oracle-cache")
        let path = scratch.child("trace.bin")
        try write(oracleRecords(Self.requests), to: path)
        let (_, operations) = try importAll(path, ImportOptions(cache: .cache))
        #expect(operations.map(\.kind) == [.get, .put, .get, .put, .get, .get, .put, .get])
        #expect(operations[1] == WorkloadOperation(.put, key: objectKey(7), valueSize: 100, timestamp: 10_000_000))
        #expect(operations[3].valueSize == 4096)
        #expect(operations[6].key == objectKey(0xDEAD_BEEF_0000_0001) && operations[6].valueSize == 1)
    }

    @Test("a size that is not a multiple of 24 names the partial record's offset; --skip-bad passes it")
    func partialRecord() throws {
        let scratch = try ScratchDirectory("oracle-partial")
        let path = scratch.child("cut.bin")
        try write(oracleRecords(Self.requests) + [1, 2, 3, 4, 5], to: path)
        #expect(throws: WorkloadError.malformedTrace(
            file: path, offset: 120,
            reason: "the input ends inside a record (5 of 24 bytes): its size is not a multiple of 24")) {
            _ = try importAll(path)
        }
        let (importer, operations) = try importAll(path, ImportOptions(skipBad: 1))
        #expect(operations.count == 5)
        #expect(importer.skipped == 1)
        #expect(importer.skippedExamples.first?.contains("byte 120") == true)
    }

    @Test("objects over 64 MiB are bad records: an error, or skipped and counted within --skip-bad")
    func oversized() throws {
        let scratch = try ScratchDirectory("oracle-big")
        let path = scratch.child("big.bin")
        try write(oracleRecords([(1, 1, 10), (1, 2, 100 << 20), (2, 3, 10), (2, 4, 100 << 20)]), to: path)
        #expect(throws: WorkloadError.malformedTrace(file: path, offset: 24, reason: "object size \(100 << 20) exceeds 64 MiB")) {
            _ = try importAll(path)
        }
        let (importer, operations) = try importAll(path, ImportOptions(skipBad: 2))
        #expect(operations.map(\.key) == [objectKey(1), objectKey(3)])
        #expect(importer.skipped == 2)
        // One more bad record than allowed: the error names the next one and the limit.
        do {
            _ = try importAll(path, ImportOptions(skipBad: 1))
            Issue.record("the second oversized record passed a --skip-bad 1 import")
        } catch let WorkloadError.malformedTrace(_, offset, reason) {
            #expect(offset == 72)
            #expect(reason.contains("after skipping 1 bad records"))
        }
    }

    @Test("a zstd-compressed oracleGeneral file (how libCacheSim ships them) reads the same")
    func compressed() throws {
        let scratch = try ScratchDirectory("oracle-zst")
        let plain = scratch.child("a.oracleGeneral.bin")
        var many: [(time: UInt32, id: UInt64, size: UInt32)] = []
        for index in 0..<100_000 { many.append((UInt32(index / 1000), UInt64(index % 3333), UInt32(index % 500))) }
        try write(oracleRecords(many), to: plain)
        let path = scratch.child("a.oracleGeneral.bin.zst")
        try write(Compression.zstd(try contents(of: plain)), to: path)
        let (_, expected) = try importAll(plain)
        let (_, actual) = try importAll(path)
        #expect(actual.count == 100_000)
        #expect(actual == expected)
    }
}
