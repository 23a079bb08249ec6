import Foundation
import StoreCore
import StoreTestSupport
import Testing
@testable import Workload

@Suite("Generators")
struct GeneratorTests {
    func operations(_ name: String, seed: UInt64 = 1, _ overrides: [String: String] = [:]) throws -> (TraceHeader, [WorkloadOperation]) {
        var spec = try WorkloadSpec.load(name)
        for (key, value) in overrides { spec.set(key, value) }
        var (header, source) = try WorkloadGenerator.make(spec: spec, seed: seed)
        var operation = WorkloadOperation(.get)
        var result: [WorkloadOperation] = []
        while try source.next(into: &operation) { result.append(operation) }
        return (header, result)
    }

    @Test("the same spec and seed give a byte-identical trace; another seed does not")
    func deterministic() throws {
        let scratch = try ScratchDirectory("generate")
        func generate(_ seed: UInt64, _ path: String) throws -> Data {
            var (header, source) = try WorkloadGenerator.make(spec: try WorkloadSpec.load("ycsb-a"), seed: seed)
            let writer = try TraceWriter(path: path, header: header)
            var operation = WorkloadOperation(.get)
            var count = 0
            while count < 50_000, try source.next(into: &operation) {
                try writer.append(operation)
                count += 1
            }
            try writer.finish()
            return try Data(contentsOf: URL(fileURLWithPath: path))
        }
        let first = try generate(42, scratch.child("a"))
        let second = try generate(42, scratch.child("b"))
        let other = try generate(43, scratch.child("c"))
        #expect(first == second)
        #expect(first != other)
    }

    @Test("YCSB A, B, E and F: the op mix of 1M operations is within ±1% of the spec", arguments: [
        ("ycsb-a", [WorkloadOperation.Kind.get: 0.5, .put: 0.5]),
        ("ycsb-b", [.get: 0.95, .put: 0.05]),
        ("ycsb-e", [.scan: 0.95, .put: 0.05]),
        ("ycsb-f", [.get: 0.5, .readModifyWrite: 0.5]),
    ])
    func opMix(name: String, expected: [WorkloadOperation.Kind: Double]) throws {
        let (header, all) = try operations(name, ["recordcount": "10000", "operationcount": "1000000"])
        let run = all.dropFirst(header.loadOperations)
        #expect(header.loadOperations == 10000 && run.count == 1_000_000)
        var counts: [WorkloadOperation.Kind: Int] = [:]
        for operation in run { counts[operation.kind, default: 0] += 1 }
        for (kind, share) in expected {
            let actual = Double(counts[kind, default: 0]) / Double(run.count)
            #expect(abs(actual - share) <= 0.01, "\(name) \(kind): \(actual) vs \(share)")
        }
        #expect(counts.keys.allSatisfy { expected[$0] != nil })
        if name == "ycsb-e" {
            let lengths = run.filter { $0.kind == .scan }.map(\.scanCount)
            #expect(lengths.min() == 1 && lengths.max() == 100)
        }
    }

    @Test("scrambled zipfian: the hottest keys get YCSB's 1/ζ(10¹⁰, 0.99) and 2^-0.99/ζ within a few percent")
    func zipfianPopularity() throws {
        let (header, all) = try operations("ycsb-c", ["recordcount": "100000", "operationcount": "1000000"])
        var popularity: [[UInt8]: Int] = [:]
        for operation in all.dropFirst(header.loadOperations) { popularity[operation.key, default: 0] += 1 }
        let top = popularity.values.sorted(by: >)
        let zetan = YCSB.ScrambledZipfian.zetan
        let first = Double(top[0]) / 1e6
        let second = Double(top[1]) / 1e6
        #expect(abs(first / (1 / zetan) - 1) < 0.03, "hottest key \(first) vs \(1 / zetan)")
        #expect(abs(second / (pow(0.5, 0.99) / zetan) - 1) < 0.05, "second key \(second)")
        // YCSB's key for item 0 of the scrambled generator is the hottest. YCSB scrambles over
        // insertcount + expected new keys + 1 items, so 100,001 here.
        let hottest = popularity.max { $0.value < $1.value }!.key
        let expectedNumber = YCSB.fnvhash64(0) % 100_001
        let generator = try YCSBGenerator(spec: WorkloadSpec.load("ycsb-c"), seed: 1)
        #expect(hottest == generator.key(expectedNumber))
    }

    @Test("latest: reads favour the newest inserts, with the skew of a zipfian over the record count")
    func latest() throws {
        let (header, all) = try operations("ycsb-d", ["recordcount": "1000", "operationcount": "200000"])
        let run = Array(all.dropFirst(header.loadOperations))
        let inserts = run.filter { $0.kind == .put }.count
        #expect(abs(Double(inserts) / Double(run.count) - 0.05) < 0.01)
        // Count, for each read, how far behind the newest insert its key is.
        let generator = try YCSBGenerator(spec: WorkloadSpec.load("ycsb-d"), seed: 1)
        var numberOf: [[UInt8]: Int64] = [:]
        for number in 0..<(1000 + Int64(inserts)) { numberOf[generator.key(number)] = number }
        var newest: Int64 = 999
        var atNewest = 0
        var reads = 0
        for operation in run {
            if operation.kind == .put {
                newest += 1
                #expect(numberOf[operation.key] == newest, "inserts take the next key number")
            } else {
                reads += 1
                let number = try #require(numberOf[operation.key])
                #expect(number <= newest)
                if number == newest { atNewest += 1 }
            }
        }
        let zeta = YCSB.Zipfian.zeta(from: 0, to: 1000, theta: 0.99, initial: 0)
        let share = Double(atNewest) / Double(reads)
        #expect(share > 0.5 / zeta && share < 1.5 / zeta, "newest-key share \(share), 1/ζ(1000) = \(1 / zeta)")
    }

    @Test("hotspot: 80% of operations go to the hot 20% of keys")
    func hotspot() throws {
        let (header, all) = try operations("ycsb-c", ["recordcount": "10000", "operationcount": "100000", "requestdistribution": "hotspot", "insertorder": "ordered"])
        let generator = try YCSBGenerator(spec: WorkloadSpec(name: "t", ["insertorder": "ordered"]), seed: 1)
        let hot = Set((0..<2000).map { generator.key(Int64($0)) })
        let run = all.dropFirst(header.loadOperations)
        let share = Double(run.filter { hot.contains($0.key) }.count) / Double(run.count)
        #expect(abs(share - 0.8) < 0.01)
    }

    @Test("extensions: deletes, batches of writes, key size")
    func extensions() throws {
        let (header, all) = try operations("churn", ["operationcount": "20000", "batchsize": "4"])
        #expect(header.loadOperations == 10000 + 2 * 2500)
        #expect(all.prefix(header.loadOperations).filter { $0.kind == .begin }.count == 2500)
        let run = all.dropFirst(header.loadOperations)
        var depth = 0
        var batchSizes: [Int] = []
        for operation in run {
            switch operation.kind {
            case .begin: depth += 1; batchSizes.append(0)
            case .commit: depth -= 1
            case .get, .scan, .readModifyWrite: #expect(depth == 0, "reads stay outside batches")
            case .put, .delete: if depth == 1 { batchSizes[batchSizes.count - 1] += 1 }
            }
            #expect(depth == 0 || depth == 1)
        }
        #expect(batchSizes.allSatisfy { $0 >= 1 && $0 <= 4 })
        #expect(run.contains { $0.kind == .delete })
        #expect(all.allSatisfy { $0.kind == .begin || $0.kind == .commit || $0.key.count == 24 })
        #expect(throws: WorkloadError.self, "16 bytes cannot hold user + 19 hashed digits") {
            try YCSBGenerator(spec: WorkloadSpec(name: "t", ["keysize": "16"]), seed: 1)
        }
        let ordered = try YCSBGenerator(spec: WorkloadSpec(name: "t", ["keysize": "16", "insertorder": "ordered"]), seed: 1)
        #expect(ordered.key(42) == bytes("user000000000042"))
    }

    @Test("db_bench generators: fillseq in order, reads after a fillseq load, readseq as scans")
    func dbbench() throws {
        let (fillHeader, fill) = try operations("dbbench-fillseq", ["num": "1000"])
        #expect(fillHeader.loadOperations == 0)
        #expect(fill.map { $0.key.withUnsafeBytes(DBBenchKey.number) } == Array(0..<1000))
        let (readHeader, reads) = try operations("dbbench-readrandom", ["num": "1000"])
        #expect(readHeader.loadOperations == 1000)
        #expect(reads.prefix(1000).allSatisfy { $0.kind == .put && $0.valueSize == 100 })
        #expect(reads.dropFirst(1000).allSatisfy { $0.kind == .get && $0.key.count == 16 })
        let (_, scans) = try operations("dbbench-readseq", ["num": "1050"])
        #expect(scans.dropFirst(1050).map(\.scanCount) == Array(repeating: 100, count: 10) + [50])
    }
}
