import MemoryStore
import StoreCore
import StoreTestSupport
import Testing
@testable import Replay
import ResultsSchema
import Workload

/// `memory` with a planted bug: a value of exactly 7 bytes is stored without its last byte.
final class PlantedBugStore: Store, @unchecked Sendable {
    let inner = MemoryStore()
    var engineName: String { "planted" }
    var metrics: StoreMetrics { inner.metrics }
    func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool { try inner.get(key, into: &value) }
    func put(_ key: [UInt8], _ value: [UInt8]) throws { try inner.put(key, value.count == 7 ? Array(value.dropLast()) : value) }
    func delete(_ key: [UInt8]) throws { try inner.delete(key) }
    func apply(_ batch: WriteBatch) throws { try inner.apply(batch) }
    func scan(from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try inner.scan(from: start, limit: limit, body)
    }
    func sync() throws {}
    func compact() throws {}
    func close() throws {}
    func statistics() throws -> StoreStatistics { try inner.statistics() }

    static let descriptor = EngineDescriptor(name: "planted", strategy: "test", summary: "memory with a planted bug", isPersistent: false) { _, _ in
        PlantedBugStore()
    }
}

@Suite("Stress testing")
struct StressTestTests {
    @Test("a correct engine agrees with the oracle through reopens and crashes")
    func agrees() throws {
        let scratch = try ScratchDirectory("stress-agrees")
        let tester = StressTest(engine: MemoryStore.descriptor, options: StoreOptions(durability: .none), scratch: scratch.path)
        #expect(try tester.run(StressTest.steps(seed: 3, count: 2_000, persistent: false)) == nil)
    }

    @Test("a planted bug is found, shrunk to a handful of steps, written as a trace and replayed from it")
    func plantedBug() throws {
        let scratch = try ScratchDirectory("stress-planted")
        let tester = StressTest(engine: PlantedBugStore.descriptor, options: StoreOptions(durability: .none), scratch: scratch.path)
        var failing: [StressStep]?
        for seed in 1...20 {
            let steps = StressTest.steps(seed: UInt64(seed), count: 3_000, persistent: false)
            if try tester.run(steps) != nil {
                failing = steps
                break
            }
        }
        let steps = try #require(failing, "the planted bug shows within 20 rounds")
        let (shrunk, mismatch) = try #require(try tester.shrink(steps))
        #expect(shrunk.count <= 20, "shrunk to \(shrunk.count) steps: \(shrunk)")
        #expect(shrunk.count < steps.count)
        let path = scratch.child("repro.trace")
        try StressReproducer.write(shrunk, engine: "planted", mismatch: mismatch.description, to: path)
        let read = try StressReproducer.read(path)
        #expect(read == shrunk)
        #expect(try tester.run(read) != nil, "the reproducer still fails")
        #expect(try TraceReader(path: path).header["stress_mismatch"] == mismatch.description)
    }

    @Test("a time budget runs rounds until it is spent, or stops at the first mismatch with the round's seed and a shrunk sequence")
    func budget() throws {
        let scratch = try ScratchDirectory("stress-budget")
        let correct = StressTest(engine: MemoryStore.descriptor, options: StoreOptions(durability: .none), scratch: scratch.path)
        let fine = try correct.run(seconds: 0.5, seed: 9, steps: 200)
        #expect(fine.failure == nil && fine.rounds >= 2 && fine.steps == fine.rounds * 200)
        let planted = StressTest(engine: PlantedBugStore.descriptor, options: StoreOptions(durability: .none), scratch: scratch.path)
        let found = try planted.run(seconds: 60, seed: 1, steps: 3_000)
        let failure = try #require(found.failure, "the planted bug shows within the budget")
        #expect(failure.seed == 1 &+ UInt64(found.rounds - 1), "the failing round is the last one run")
        #expect(failure.steps.count <= 20)
        #expect(try planted.run(failure.steps) != nil, "the shrunk sequence still fails")
    }

    @Test("a reproducer keeps reopens, crashes and maintenance where they were")
    func reproducerRoundTrip() throws {
        let scratch = try ScratchDirectory("stress-roundtrip")
        let steps: [StressStep] = [
            .compact, .put(key: [1], value: [2, 3]), .reopen, .batch([.put(key: [4], value: []), .delete(key: [1])]),
            .crash, .sync, .get(key: [4]), .scan(from: [], limit: 3), .delete(key: [4]), .crash,
        ]
        let path = scratch.child("steps.trace")
        try StressReproducer.write(steps, engine: "x", mismatch: "none", to: path)
        #expect(try StressReproducer.read(path) == steps)
    }
}

@Suite("Highest rate within a latency objective")
struct SLOSearchTests {
    @Test("objectives parse with their units; nonsense is refused")
    func parsing() throws {
        let p99 = try LatencyObjective(parsing: "p99<2ms")
        #expect(p99.percentile == .p99 && p99.boundMicroseconds == 2_000)
        #expect(try LatencyObjective(parsing: "p99.9<500us").boundMicroseconds == 500)
        #expect(try LatencyObjective(parsing: "p50<1s").boundMicroseconds == 1_000_000)
        for bad in ["p98<2ms", "p99", "p99<fast", "p99<-1ms"] {
            #expect(throws: StoreError.self, "\(bad)") { try LatencyObjective(parsing: bad) }
        }
    }

    @Test("bisection finds the knee of a modelled engine: latency explodes past 10,000 ops/s")
    func knee() throws {
        let objective = try LatencyObjective(parsing: "p99<1ms")
        let found = SLOSearch(objective: objective, probes: 8).search(unpaced: 40_000) { rate in
            var run = results([("e", min(rate, 40_000), 0, 0)]).runs[0]
            run.byOp["all"]!.latencyUs.p99 = rate <= 10_000 ? 200 : 50_000
            return run
        }
        let best = try #require(found.maxOpsPerS)
        #expect(best <= 10_000 && best > 9_000, "\(best)")
        #expect(found.probes.count == 9 && found.probes.map(\.offeredOpsPerS) == found.probes.map(\.offeredOpsPerS).sorted())
        #expect(found.probes.contains { !$0.passed } && found.probes.contains { $0.passed })
    }
}
