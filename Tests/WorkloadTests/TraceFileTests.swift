import Foundation
import StoreCore
import StoreTestSupport
import Testing
@testable import Workload

@Suite("Trace files")
struct TraceFileTests {
    static let operations: [WorkloadOperation] = [
        WorkloadOperation(.put, key: bytes("a"), valueSize: 100, timestamp: 5),
        WorkloadOperation(.get, key: bytes("a"), timestamp: 9),
        WorkloadOperation(.begin, timestamp: 9),
        WorkloadOperation(.put, key: [0, 255, 7], value: [1, 2, 3], timestamp: 12),
        WorkloadOperation(.delete, key: bytes("gone"), timestamp: 3),  // time may go backwards
        WorkloadOperation(.commit),
        WorkloadOperation(.scan, key: [], scanCount: 50),
        WorkloadOperation(.readModifyWrite, key: Array(repeating: 9, count: 300), valueSize: 70_000, timestamp: 1 << 40),
        WorkloadOperation(.get, key: bytes("no time")),
        // Larger than the reader's 1 MiB window: it must grow without losing what it holds.
        WorkloadOperation(.put, key: bytes("big"), value: (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }),
        WorkloadOperation(.get, key: bytes("after big")),
    ]

    func writeSample(_ path: String) throws {
        let writer = try TraceWriter(path: path, header: TraceHeader([("source", "test"), ("seed", "7"), ("load_operations", "2")]))
        for operation in Self.operations { try writer.append(operation) }
        #expect(try writer.finish() == Self.operations.count)
    }

    func readAll(_ path: String) throws -> (TraceHeader, [WorkloadOperation]) {
        var reader = try TraceReader(path: path)
        var operation = WorkloadOperation(.get)
        var result: [WorkloadOperation] = []
        while try reader.next(into: &operation) { result.append(operation) }
        return (reader.header, result)
    }

    @Test("operations and header round-trip exactly")
    func roundTrip() throws {
        let scratch = try ScratchDirectory("trace")
        let path = scratch.child("t.trace")
        try writeSample(path)
        let (header, read) = try readAll(path)
        #expect(read == Self.operations)
        #expect(header.source == "test" && header.seed == 7 && header.loadOperations == 2)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test("a flipped byte, a cut file and a foreign file are errors with the file and offset")
    func damage() throws {
        let scratch = try ScratchDirectory("trace-damage")
        let path = scratch.child("t.trace")
        try writeSample(path)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        for offset in [40, original.count / 2, original.count - 30] {
            var damaged = original
            damaged[offset] ^= 0x01
            try damaged.write(to: URL(fileURLWithPath: path))
            #expect(throws: WorkloadError.self, "flip at \(offset)") { try readAll(path) }
        }
        for cut in [20, original.count / 2, original.count - 1] {
            try original.prefix(cut).write(to: URL(fileURLWithPath: path))
            let error = #expect(throws: WorkloadError.self, "cut at \(cut)") { try readAll(path) }
            #expect(String(describing: error!).contains(path))
        }
        try Data("hello, world, not a trace".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: WorkloadError.malformedTrace(file: path, offset: 0, reason: "not a storebench trace (bad magic)")) { try readAll(path) }
    }

    @Test("JSON Lines round-trips every kind and rejects malformed lines with a reason")
    func jsonLines() throws {
        for operation in Self.operations {
            let line = Array(JSONLines.encode(operation).utf8)
            let decoded = try line.withUnsafeBytes { try JSONLines.decode($0) }
            #expect(decoded == operation, "\(JSONLines.encode(operation))")
        }
        for bad in ["{\"op\":\"put\",\"key\":\"k\"}", "{\"op\":\"fly\",\"key\":\"k\"}", "[1,2]", "{\"op\":\"get\"}", "not json", "{\"op\":\"get\",\"key_hex\":\"zz\"}"] {
            #expect(throws: JSONLines.Reason.self, "\(bad)") { try Array(bad.utf8).withUnsafeBytes { try JSONLines.decode($0) } }
        }
    }

    @Test("synthesized values are deterministic, sized, and as compressible as asked")
    func synthesizedValues() {
        let synthesizer = ValueSynthesizer(seed: 9, compressibility: 0.5)
        var a: [UInt8] = []
        var b: [UInt8] = []
        synthesizer.fill(&a, size: 1000, key: bytes("k"))
        ValueSynthesizer(seed: 9, compressibility: 0.5).fill(&b, size: 1000, key: bytes("k"))
        #expect(a == b && a.count == 1000)
        synthesizer.fill(&b, size: 1000, key: bytes("k"), version: 1)
        #expect(a != b, "a new version gets new bytes")
        let filler = a.last!
        #expect(a.suffix(500).allSatisfy { $0 == filler }, "the second half is one repeated byte")
        var incompressible: [UInt8] = []
        ValueSynthesizer(seed: 9, compressibility: 0).fill(&incompressible, size: 4096, key: bytes("k"))
        #expect(Set(incompressible).count > 200)
    }
}

@Suite("Trace statistics")
struct TraceStatisticsTests {
    @Test("a Zipf fit recovers the exponent of exact Zipf counts")
    func zipfFit() throws {
        for exponent in [0.6, 0.99, 1.3] {
            let counts = (1...2000).map { Int((1_000_000 / pow(Double($0), exponent)).rounded()) }
            let fit = try #require(TraceStatistics.zipfExponent(counts, minimumCount: 5))
            #expect(abs(fit - exponent) < 0.01, "\(exponent): fit \(fit)")
        }
        #expect(TraceStatistics.zipfExponent([9, 8, 7], minimumCount: 5) == nil)
    }

    @Test("working set windows, new keys and times between operations")
    func workingSetAndGaps() {
        var statistics = TraceStatistics(windowOperations: 4)
        let keys = ["a", "b", "a", "c", "a", "d", "d", "b", "e"]
        for (index, key) in keys.enumerated() {
            statistics.add(WorkloadOperation(.get, key: bytes(key), timestamp: UInt64(index * index)))
        }
        statistics.finish()
        #expect(statistics.workingSet.map(\.distinctKeys) == [3, 3, 1])
        #expect(statistics.workingSet.map(\.newKeys) == [3, 1, 1])
        // Gaps 1, 3, 5, … 15 µs.
        #expect(statistics.interArrivals.count == 8)
        #expect(statistics.interArrivals.minimum == 1 && statistics.interArrivals.maximum == 15)
        let page = TraceStatisticsPage.render(statistics, title: "t<1>", header: TraceHeader([("source", "test")]))
        #expect(page.contains("t&lt;1&gt;") && page.contains("<svg") && page.contains("Working set"))
    }
}
