import StoreCore
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
