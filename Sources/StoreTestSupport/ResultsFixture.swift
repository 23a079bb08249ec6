import ResultsSchema

/// Results with one run per entry (engine, throughput, file bytes written, lost commits) and
/// plausible figures elsewhere: a fixture for comparison, report and search tests.
public func results(_ runs: [(engine: String, opsPerS: Double, fileBytes: Int, lost: Int)], seed: UInt64 = 1) -> Results {
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

