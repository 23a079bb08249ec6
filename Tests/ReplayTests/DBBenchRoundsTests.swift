import MemoryStore
import StoreCore
import StoreTestSupport
import Testing
@testable import Replay

@Suite("dbbench rounds")
struct DBBenchRoundsTests {
    /// An outcome whose phases ran 1,000 operations each in the given seconds (`compact`, as in
    /// a real run, is one operation).
    static func outcome(_ phases: [(String, Double)], threads: Int = 1) -> DBBench.Outcome {
        DBBench.Outcome(
            results: phases.map { DBBench.Result(phase: $0.0, operations: $0.0 == "compact" ? 1 : 1000, seconds: $0.1, threads: threads) },
            statistics: StoreStatistics(fileCount: 0, diskBytes: 0, allocatedBytes: 0),
            metrics: StoreMetrics.Snapshot(), events: [], allocator: nil)
    }

    @Test("median and range per engine and phase; ratios to a peer are taken within each round")
    func mediansAndRatios() {
        var rounds = DBBenchRounds()
        // Round by round the machine slows down; ours stays at twice the peer's rate throughout.
        for (index, seconds) in [0.5, 2.0, 1.0].enumerated() {
            rounds.add(round: [
                ("lsm", Self.outcome([("fillrandom", seconds), ("compact", 1.0)])),
                ("leveldb", Self.outcome([("fillrandom", seconds * 2), ("compact", 1.0)])),
                ("lmdb", Self.outcome(index == 1 ? [] : [("fillrandom", seconds)])),
            ])
        }
        let lsm = rounds.spread(.init(engine: "lsm", threads: 1, phase: "fillrandom"))
        #expect(lsm.count == 3)
        #expect(lsm.median == 1000 && lsm.minimum == 500 && lsm.maximum == 2000)
        #expect(rounds.spread(.init(engine: "lmdb", threads: 1, phase: "fillrandom")).count == 2, "a round without the figure is left out")
        #expect(!rounds.order.contains { $0.phase == "compact" }, "a one-operation phase has no rate")

        let ratios = rounds.peerRatios(peers: ["lsm": ["leveldb", "rocksdb"]])
        #expect(ratios.count == 1, "no ratio against a peer that did not run")
        #expect(ratios.first?.peer == "leveldb")
        // The medians' ratio would be 2 as well here, but each round's ratio is exactly 2.
        #expect(ratios.first?.ratio == DBBenchRounds.Spread([2, 2, 2]))
    }

    @Test("rounds run every engine at every thread count, each round into its own directories, and peers are those that ran")
    func runRounds() throws {
        let scratch = try ScratchDirectory("dbbench-rounds")
        let phases = try ["fillrandom", "readrandom"].map { try DBBench.Phase(parsing: $0) }
        let (last, rounds) = try DBBenchRunner.rounds(
            engines: [MemoryStore.descriptor], configuration: .init(num: 2_000, keySize: 16, valueSize: 32, batchSize: 1, seed: 2, threads: 1),
            threadCounts: [1, 2], repeats: 3, phases: phases, options: StoreOptions(), parentDirectory: scratch.path)
        #expect(last.map(\.engine) == ["memory", "memory"] && last.map { $0.outcome.results.first?.threads } == [1, 2])
        #expect(rounds.rounds.count == 3 && rounds.order.count == 4, "two phases at two thread counts")
        #expect(rounds.spread(.init(engine: "memory", threads: 2, phase: "readrandom")).count == 3)
        let lsm = EngineDescriptor(name: "lsm", strategy: "", summary: "", isPersistent: true, peers: ["leveldb", "rocksdb"]) { _, _ in MemoryStore() }
        let leveldb = EngineDescriptor(name: "leveldb", strategy: "", summary: "", isPersistent: true) { _, _ in MemoryStore() }
        #expect(DBBenchRunner.peers(among: [lsm, leveldb]) == ["lsm": ["leveldb"], "leveldb": []])
    }

    @Test("an even number of rounds takes the mean of the middle two")
    func evenMedian() {
        #expect(DBBenchRounds.Spread([4, 1, 3, 2]).median == 2.5)
        #expect(DBBenchRounds.Spread([]).count == 0)
    }
}

@Suite("dbbench phases")
struct DBBenchPhaseTests {
    @Test("every phase name parses to a phase that prints as written; malformed ones are refused naming them")
    func namesRoundTrip() throws {
        for (name, _) in DBBench.Phase.named {
            #expect(try DBBench.Phase(parsing: name).description == name)
        }
        for text in ["overwrite:n=500", "reopen:segment_size=1MiB,use_hints=false", "reopen-cold", "reopen-cold:cache_size=8MiB"] {
            #expect(try DBBench.Phase(parsing: text).description == text)
        }
        #expect(try DBBench.Phase(parsing: "reopen-crash") == .reopenAfterCrash)
        for bad in ["fillrandom:x", "overwrite:n=0", "overwrite:500", "reopen:broken", "nosuch"] {
            #expect(throws: StoreError.self) { try DBBench.Phase(parsing: bad) }
        }
    }
}
