import Foundation
@testable import Report
import ResultsSchema
import Testing

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

/// A seeded generator for synthetic noise (Box–Muller normals).
struct SeededRandomForTests {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) * 0x1.0p-53 }
    mutating func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
}

@Suite("Comparison")
struct ComparisonTests {
    @Test("exact Mann–Whitney p-values")
    func mannWhitney() {
        #expect(abs(Comparison.mannWhitneyP([1, 2, 3], [4, 5, 6]) - 0.1) < 1e-9, "2 × 1/C(6,3)")
        #expect(abs(Comparison.mannWhitneyP([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) - 2.0 / 252) < 1e-9)
        #expect(Comparison.mannWhitneyP([1, 3, 5], [2, 4, 6]) > 0.5)
    }

    @Test("timing: fewer than five runs a side past the threshold are noise; five separated runs a side are a regression")
    func timingNeedsRepetitions() throws {
        let base = results([("e", 1000, 100, 0)])
        let slow = results([("e", 400, 100, 0)])
        #expect(verdict(try Comparison(baseline: base, new: slow), "ops_per_s") == .noise)
        // Three separated runs a side: p = 0.1, a 10% false-alarm rate, so still noise.
        let base3 = results([("e", 1000, 100, 0), ("e", 1010, 100, 0), ("e", 990, 100, 0)])
        let slow3 = results([("e", 400, 100, 0), ("e", 420, 100, 0), ("e", 410, 100, 0)])
        #expect(verdict(try Comparison(baseline: base3, new: slow3), "ops_per_s") == .noise)
        let base5 = results([1000, 1010, 990, 1005, 995].map { ("e", $0, 100, 0) })
        let slow5 = results([400, 420, 410, 405, 415].map { ("e", $0, 100, 0) })
        let comparison = try Comparison(baseline: base5, new: slow5)
        #expect(verdict(comparison, "ops_per_s") == .regression)
        #expect(verdict(comparison, "p50_us") == .regression)
        #expect(verdict(try Comparison(baseline: slow5, new: base5), "ops_per_s") == .improvement)
        let overlapping = results([800, 1200, 850, 1100, 900].map { ("e", $0, 100, 0) })
        #expect(verdict(try Comparison(baseline: base5, new: overlapping), "ops_per_s") != .regression)
        #expect(verdict(try Comparison(baseline: base5, new: results([970, 1000, 1000, 990, 1010].map { ("e", $0, 100, 0) })), "ops_per_s") == .unchanged)
    }

    @Test("false alarms: 20 A/A comparisons of noisy runs raise none; a 1.5× slowdown is caught every time")
    func falseAlarms() throws {
        var random = SeededRandomForTests(seed: 42)
        // Throughput with 5% noise (two-sided, roughly normal), five repetitions a side.
        func runs(_ mean: Double) -> Results {
            results((0..<5).map { _ in ("e", mean * (1 + 0.05 * random.normal()), 100, 0) })
        }
        var alarms = 0
        var caught = 0
        for _ in 0..<20 {
            if verdict(try Comparison(baseline: runs(1000), new: runs(1000)), "ops_per_s") == .regression { alarms += 1 }
            if verdict(try Comparison(baseline: runs(1000), new: runs(1000 / 1.5)), "ops_per_s") == .regression { caught += 1 }
        }
        #expect(alarms == 0, "\(alarms) false alarms in 20 A/A comparisons")
        #expect(caught == 20, "a 1.5× slowdown caught \(caught) times in 20")
    }

    @Test("a lost commit in any repetition is a regression, whatever the median")
    func anyLoss() throws {
        let base = results([("e", 1000, 100, 0), ("e", 1000, 100, 0), ("e", 1000, 100, 0)])
        let oneBad = results([("e", 1000, 100, 0), ("e", 1000, 100, 0), ("e", 1000, 100, 7)])
        #expect(verdict(try Comparison(baseline: base, new: oneBad), "lost_commits") == .regression)
        #expect(verdict(try Comparison(baseline: base, new: base), "lost_commits") == .unchanged)
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

    @Test("different durability, settings or value sizes are refused, and said, unless forced")
    func differentOptions() throws {
        let base = results([("e", 1000, 100, 0)])
        var durable = base
        durable.options.durability = "always"
        var tuned = base
        tuned.options.settings = ["lsm.write_buffer_size": "64MiB"]
        var bigger = base
        bigger.options.valueSize = 4096
        for other in [durable, tuned, bigger] {
            #expect(throws: ComparisonError.self) { try Comparison(baseline: base, new: other) }
            #expect(throws: Never.self) { try Comparison(baseline: base, new: other, force: true) }
        }
        do {
            _ = try Comparison(baseline: base, new: durable)
        } catch let error as ComparisonError {
            #expect(error.description.contains("durability none vs always"), "\(error)")
        }
    }

    @Test("space amplification: a time-weighted mean of the sawtooth and its peak, not one sample")
    func spaceAmplification() throws {
        // 1 s at 300 bytes, 3 s at 100 bytes, over 100 live bytes: mean 1.5, max 3 (the end says 1).
        let amplification = try #require(Results.Disk.amplification(t: [1, 2, 3, 4], diskBytes: [300, 100, 100, 100], liveBytes: 100))
        #expect(abs(amplification.mean - 1.5) < 1e-9 && amplification.max == 3)
        #expect(Results.Disk.amplification(t: [1], diskBytes: [10], liveBytes: 0) == nil)
    }

    @Test("counters that depend on timing (threads, a library's kernel-counted bytes) are judged as noisy")
    func noisyCounters() throws {
        var base = results([("e", 1000, 100_000, 0)])
        var more = results([("e", 1000, 105_000, 0)])
        #expect(verdict(try Comparison(baseline: base, new: more), "file_bytes_written") == .regression)
        base.runs[0].deterministicCounters = false
        more.runs[0].deterministicCounters = false
        #expect(verdict(try Comparison(baseline: base, new: more), "file_bytes_written") == .noise)
    }

    @Test("different workloads cannot be compared; engines present on one side only are reported")
    func unusable() throws {
        #expect(throws: ComparisonError.self) { try Comparison(baseline: results([("e", 1, 1, 0)]), new: results([("e", 1, 1, 0)], seed: 2)) }
        let comparison = try Comparison(baseline: results([("a", 1, 1, 0)]), new: results([("a", 1, 1, 0), ("b", 1, 1, 0)]))
        #expect(comparison.rows.contains { $0.engine == "b" && $0.verdict == .added })
        #expect(comparison.regressions.isEmpty)
    }
}
