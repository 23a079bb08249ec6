import Foundation
import Testing
@testable import Report

func results(_ runs: [(engine: String, opsPerS: Double, fileBytes: Int, lost: Int)], seed: UInt64 = 1) -> Results {
    Results(
        tool: .init(version: "t", commit: "t"), machine: .init(cpus: 1, memoryBytes: 1, os: "t"),
        workload: .init(name: "w", source: "t", seed: seed, records: 10, operations: 100),
        options: .init(durability: "none", pace: "max", repeat: 1, valueCompressibility: 0.5, sampleIntervalS: 1, settings: [:], crashKillPoints: 1),
        runs: runs.enumerated().map { index, run in
            let latency = Results.OpStats(count: 100, opsPerS: run.opsPerS, latencyUs: .init(p50: 1e6 / run.opsPerS, p90: 1, p99: 1, p999: 1, max: 1))
            return Results.Run(
                engine: run.engine, repetition: index + 1, ops: 100, elapsedS: 100 / run.opsPerS, opsPerS: run.opsPerS,
                byOp: ["all": latency], duringMaintenance: nil, load: .init(ops: 10, elapsedS: 0.1),
                disk: .init(finalBytes: 1000, peakBytes: 1000, finalAllocatedBytes: 4096, liveBytes: 500, spaceAmp: 2),
                io: .init(userBytesWritten: 500, fileBytesWritten: run.fileBytes, osBytesWritten: nil, writeAmp: 2, fsyncs: 3),
                pauses: .init(count: 0, totalMs: 0, maxMs: 0, p99Ms: 0, stalledFraction: 0), events: [],
                recovery: .init(cleanOpenMs: 1, crashOpenMs: 1, crashVerified: run.lost == 0, lostCommits: run.lost, partialBatches: 0, killPoints: 1, note: nil),
                memory: .init(peakRssBytes: 1 << 20, allocatedBytes: 1 << 20, residentBytes: 1 << 20),
                harness: .init(perOpOverheadNs: 100),
                timeseries: .init(intervalS: 1, t: [1], opsPerS: [run.opsPerS], p99Us: [1], diskBytes: [1000], allocatedDiskBytes: [4096]))
        })
}

func verdict(_ comparison: Comparison, _ metric: String) -> Comparison.Verdict? {
    comparison.rows.first { $0.metric == metric }?.verdict
}

@Suite("Comparison")
struct ComparisonTests {
    @Test("exact Mann–Whitney p-values")
    func mannWhitney() {
        #expect(abs(Comparison.mannWhitneyP([1, 2, 3], [4, 5, 6]) - 0.1) < 1e-9, "2 × 1/C(6,3)")
        #expect(abs(Comparison.mannWhitneyP([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) - 2.0 / 252) < 1e-9)
        #expect(Comparison.mannWhitneyP([1, 3, 5], [2, 4, 6]) > 0.5)
    }

    @Test("timing: single runs past the threshold are noise; three separated runs a side are a regression")
    func timingNeedsRepetitions() throws {
        let base = results([("e", 1000, 100, 0)])
        let slow = results([("e", 400, 100, 0)])
        #expect(verdict(try Comparison(baseline: base, new: slow), "ops_per_s") == .noise)
        let base3 = results([("e", 1000, 100, 0), ("e", 1010, 100, 0), ("e", 990, 100, 0)])
        let slow3 = results([("e", 400, 100, 0), ("e", 420, 100, 0), ("e", 410, 100, 0)])
        let comparison = try Comparison(baseline: base3, new: slow3)
        #expect(verdict(comparison, "ops_per_s") == .regression)
        #expect(verdict(comparison, "p50_us") == .regression)
        #expect(verdict(try Comparison(baseline: slow3, new: base3), "ops_per_s") == .improvement)
        let overlapping = results([("e", 800, 100, 0), ("e", 1200, 100, 0), ("e", 850, 100, 0)])
        #expect(verdict(try Comparison(baseline: base3, new: overlapping), "ops_per_s") != .regression)
        #expect(verdict(try Comparison(baseline: base3, new: results([("e", 970, 100, 0)] + Array(repeating: ("e", 1000.0, 100, 0), count: 2))), "ops_per_s") == .unchanged)
    }

    @Test("deterministic metrics are strict; lost commits may never grow; thresholds parse")
    func strict() throws {
        let base = results([("e", 1000, 100_000, 0)])
        #expect(verdict(try Comparison(baseline: base, new: results([("e", 1000, 100_900, 0)])), "file_bytes_written") == .unchanged)
        #expect(verdict(try Comparison(baseline: base, new: results([("e", 1000, 102_000, 0)])), "file_bytes_written") == .regression)
        #expect(verdict(try Comparison(baseline: base, new: results([("e", 1000, 100_000, 1)])), "lost_commits") == .regression)
        let loose = try Comparison.Thresholds(parsing: "bytes=5%,time=0.2")
        #expect(loose.bytes == 0.05 && loose.time == 0.2 && loose.memory == 0.10)
        #expect(verdict(try Comparison(baseline: base, new: results([("e", 1000, 102_000, 0)]), thresholds: loose), "file_bytes_written") == .unchanged)
        #expect(throws: ComparisonError.self) { try Comparison.Thresholds(parsing: "speed=5%") }
    }

    @Test("different workloads cannot be compared; engines present on one side only are reported")
    func unusable() throws {
        #expect(throws: ComparisonError.self) { try Comparison(baseline: results([("e", 1, 1, 0)]), new: results([("e", 1, 1, 0)], seed: 2)) }
        let comparison = try Comparison(baseline: results([("a", 1, 1, 0)]), new: results([("a", 1, 1, 0), ("b", 1, 1, 0)]))
        #expect(comparison.rows.contains { $0.engine == "b" && $0.verdict == .added })
        #expect(comparison.regressions.isEmpty)
    }
}
