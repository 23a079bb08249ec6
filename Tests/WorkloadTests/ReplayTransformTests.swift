import Foundation
import StoreCore
import StoreTestSupport
import Testing
@testable import Workload

/// Operations from an array, for feeding transforms.
struct ArraySource: OperationSource {
    var operations: [WorkloadOperation]
    var index = 0
    init(_ operations: [WorkloadOperation]) { self.operations = operations }
    mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        guard index < operations.count else { return false }
        operation = operations[index]
        index += 1
        return true
    }
}

func drain<S: OperationSource>(_ source: inout S) throws -> [WorkloadOperation] {
    var operation = WorkloadOperation(.get)
    var result: [WorkloadOperation] = []
    while try source.next(into: &operation) { result.append(operation) }
    return result
}

func transformed(_ operations: [WorkloadOperation], _ controls: ReplayControls, load: Int = 0) throws -> [WorkloadOperation] {
    var transform = ReplayTransform(ArraySource(operations), controls: controls, loadOperations: load)
    return try drain(&transform)
}

/// A generated YCSB-A trace (zipfian keys): its load phase size and its operations.
func ycsbA(records: Int, operations: Int, seed: UInt64 = 3) throws -> (load: Int, operations: [WorkloadOperation]) {
    var spec = try WorkloadSpec.load("ycsb-a")
    spec.set("recordcount", String(records))
    spec.set("operationcount", String(operations))
    var (header, source) = try WorkloadGenerator.make(spec: spec, seed: seed)
    return (header.loadOperations, try drain(&source))
}

func accessCounts(_ operations: some Sequence<WorkloadOperation>) -> [[UInt8]: Int] {
    var counts: [[UInt8]: Int] = [:]
    for operation in operations where operation.kind != .begin && operation.kind != .commit { counts[operation.key, default: 0] += 1 }
    return counts
}

@Suite("Replay controls")
struct ReplayTransformTests {
    @Test("--sample keeps about the fraction of keys, each with every one of its accesses, and the op mix")
    func sample() throws {
        let (load, operations) = try ycbsTrace()
        let kept = try transformed(operations, ReplayControls(sample: 0.1, seed: 9), load: load)
        let full = accessCounts(operations)
        let sampled = accessCounts(kept)
        let fraction = Double(sampled.count) / Double(full.count)
        #expect(abs(fraction - 0.1) < 0.02, "kept \(sampled.count) of \(full.count) keys")
        for (key, count) in sampled { #expect(full[key] == count) }
        // Op mix within 2 points of the full trace's.
        for kind in [WorkloadOperation.Kind.get, .put] {
            let before = Double(operations.filter { $0.kind == kind }.count) / Double(operations.count)
            let after = Double(kept.filter { $0.kind == kind }.count) / Double(kept.count)
            #expect(abs(before - after) < 0.02, "\(kind): \(before) vs \(after)")
        }
        // Another seed picks other keys.
        let other = accessCounts(try transformed(operations, ReplayControls(sample: 0.1, seed: 10), load: load))
        #expect(Set(other.keys) != Set(sampled.keys))
    }

    func ycbsTrace() throws -> (Int, [WorkloadOperation]) {
        try ycsbA(records: 20_000, operations: 100_000)
    }

    @Test("--scale-keys K: loads write every copy; each access goes to one copy, the key's total kept and spread")
    func scaleKeys() throws {
        let (load, operations) = try ycsbA(records: 500, operations: 40_000)
        let controls = ReplayControls(scaleKeys: 4, seed: 5)
        let scaled = try transformed(operations, controls, load: load)
        #expect(scaled.count == load * 4 + operations.count - load)
        // Load phase: every copy of every loaded key, in order.
        let loaded = Set(scaled.prefix(load * 4).map(\.key))
        #expect(loaded.count == load * 4)
        #expect(loaded == Set(operations.prefix(load).flatMap { operation in (0..<4).map { copy in operation.key + Array("#\(copy)".utf8) } }))
        // Run phase: per original key, the accesses to its copies add up to its accesses.
        let original = accessCounts(operations[load...])
        var perBase: [[UInt8]: [Int]] = [:]
        for operation in scaled[(load * 4)...] {
            let hash = operation.key.lastIndex(of: UInt8(ascii: "#"))!
            let copy = Int(String(decoding: operation.key[(hash + 1)...], as: UTF8.self))!
            perBase[Array(operation.key[..<hash]), default: [0, 0, 0, 0]][copy] += 1
        }
        for (key, copies) in perBase { #expect(copies.reduce(0, +) == original[key]) }
        // The hottest key's accesses spread over all four copies, none far from a quarter.
        let hottest = original.max { $0.value < $1.value }!
        for count in perBase[hottest.key]! { #expect(abs(Double(count) / Double(hottest.value) - 0.25) < 0.05) }
        // Seeded: the same seed gives the same trace.
        #expect(try transformed(operations, controls, load: load) == scaled)
    }

    @Test("--window keeps the run phase's seconds START..END, --speed divides recorded time")
    func windowAndSpeed() throws {
        var operations = [WorkloadOperation(.put, key: bytes("loaded"), valueSize: 1)]
        for second in 0..<10 { operations.append(WorkloadOperation(.get, key: bytes("k\(second)"), timestamp: 5_000_000 + UInt64(second) * 1_000_000)) }
        operations.append(WorkloadOperation(.get, key: bytes("untimed")))
        let windowed = try transformed(operations, ReplayControls(window: (2, 5)), load: 1)
        #expect(windowed.map { String(decoding: $0.key, as: UTF8.self) } == ["loaded", "k2", "k3", "k4", "untimed"])
        let fast = try transformed(operations, ReplayControls(speed: 4), load: 1)
        #expect(fast.compactMap(\.timestamp) == (0..<10).map { 5_000_000 + UInt64($0) * 250_000 })
        #expect(throws: StoreError.self) { _ = try ReplayControls.window(parsing: "5..2") }
        #expect(try ReplayControls.window(parsing: "30..").end == .infinity)
    }

    @Test("a batch keeps its begin and commit around what is kept, and disappears when nothing is")
    func batches() throws {
        // Find one key sampled in and one sampled out.
        let controls = ReplayControls(sample: 0.5, seed: 1)
        let keys = (0..<100).map { bytes("key\($0)") }
        let inKey = try #require(keys.first { !(try! transformed([WorkloadOperation(.get, key: $0)], controls)).isEmpty })
        let outKey = try #require(keys.first { (try! transformed([WorkloadOperation(.get, key: $0)], controls)).isEmpty })
        let operations = [
            WorkloadOperation(.begin), WorkloadOperation(.put, key: outKey, valueSize: 1), WorkloadOperation(.commit),
            WorkloadOperation(.begin), WorkloadOperation(.put, key: inKey, valueSize: 1), WorkloadOperation(.delete, key: outKey), WorkloadOperation(.commit),
        ]
        #expect(try transformed(operations, controls) == [
            WorkloadOperation(.begin), WorkloadOperation(.put, key: inKey, valueSize: 1), WorkloadOperation(.commit),
        ])
    }

    @Test("run's materialization applies the controls and counts the new load phase")
    func materialized() throws {
        let scratch = try ScratchDirectory("controls-materialize")
        let materialized = try WorkloadMaterializer.materialize(
            "ycsb-a", seed: 2, overrides: ["recordcount": "1000", "operationcount": "5000"], scratch: scratch.path,
            input: .init(controls: ReplayControls(scaleKeys: 2, sample: 0.5, seed: 2)))
        var reader = try TraceReader(path: materialized.path)
        let operations = try drain(&reader)
        let load = materialized.header.loadOperations
        #expect(load > 600 && load < 1400, "about half the 1000 keys, twice over: \(load)")
        #expect(operations.prefix(load).allSatisfy { $0.kind == .put })
        #expect(Set(operations.prefix(load).map(\.key)).count == load)
        #expect(materialized.header["replay_controls"]?.contains("scale-keys 2") == true)
    }

    @Test("run reads other formats through the importers, with --skip-bad")
    func foreignFormats() throws {
        let scratch = try ScratchDirectory("controls-foreign")
        let path = scratch.child("w.oracleGeneral.bin")
        try write(oracleRecords([(1, 1, 10), (1, 2, 20), (2, 1, 10)]) + [9, 9, 9], to: path)
        #expect(throws: WorkloadError.self) {
            _ = try WorkloadMaterializer.materialize(path, seed: 1, scratch: scratch.child("a"))
        }
        let materialized = try WorkloadMaterializer.materialize(
            path, seed: 1, scratch: scratch.child("b"), input: .init(importing: ImportOptions(skipBad: 1, cache: .cache)))
        #expect(materialized.warnings.first?.contains("skipped 1 malformed") == true)
        var reader = try TraceReader(path: materialized.path)
        #expect(try drain(&reader).map(\.kind) == [.get, .put, .get, .put, .get])
        #expect(materialized.name == "w.oracleGeneral")
    }

    @Test("--sample 0.1 on a zipfian trace keeps the op mix within 2 points and the Zipf exponent within 0.05")
    func sampleKeepsShape() throws {
        let (load, operations) = try ycsbA(records: 10_000, operations: 400_000, seed: 11)
        let run = Array(operations[load...])
        let kept = try transformed(run, ReplayControls(sample: 0.1, seed: 4))
        var full = TraceStatistics()
        for operation in run { full.add(operation) }
        var sampled = TraceStatistics()
        for operation in kept { sampled.add(operation) }
        let fullExponent = try #require(full.zipfExponent())
        let sampledExponent = try #require(sampled.zipfExponent())
        // YCSB scrambles its zipfian ranks over a larger space, which flattens the fit; uniform keys fit about 0.
        #expect(fullExponent > 0.3, "a zipfian trace fits a clearly skewed exponent: \(fullExponent)")
        #expect(abs(fullExponent - sampledExponent) < 0.05, "full \(fullExponent), sampled \(sampledExponent)")
        for kind in [WorkloadOperation.Kind.get, .put] {
            #expect(abs(full.share(of: kind) - sampled.share(of: kind)) < 0.02)
        }
    }
}
