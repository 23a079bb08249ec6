import ResultsSchema
import StoreCore

/// The figures a reopen after each crash or fault adds to (the kill and the fault cycles'
/// reports), and the one reopen-and-check step both kinds of cycle end with.
protocol RecoveryFigures {
    var recovered: Int { get set }
    var lostCommits: Int { get set }
    var partialBatches: Int { get set }
    var failedOpens: Int { get set }
    var problems: [String] { get set }
    var recoveryMs: Results.Latency { get set }
}

extension CrashCycles.Report: RecoveryFigures {}
extension FaultCycles.Report: RecoveryFigures {}

extension RecoveryFigures {
    /// Keeps the first ten problems.
    mutating func note(_ problem: @autoclosure () -> String) {
        if problems.count < 10 { problems.append(problem()) }
    }

    /// Reopens the store in `directory`, times the open (into `opens`, milliseconds) and checks
    /// it against the trace.
    /// - Returns: the frontier to continue from, or nil when the open failed (the directory is
    ///   then destroyed, so the next cycle starts from the beginning).
    mutating func reopenAndVerify(
        engine: EngineDescriptor, directory: String, options: StoreOptions, check: CrashCheck, acknowledged: ReplayFrontier,
        cycle: String, opens: inout [Double]
    ) throws -> ReplayFrontier? {
        let start = MonotonicClock.now()
        let store: any Store
        do {
            store = try engine.open(directory, options)
        } catch {
            failedOpens += 1
            note("\(cycle): open failed, acknowledged \(acknowledged): \(error)")
            try StorageDirectory.destroy(directory, fileSystem: options.fileSystem)
            return nil
        }
        opens.append(MonotonicClock.seconds(since: start) * 1000)
        let verdict: CrashCheck.Verdict
        do {
            verdict = try check.verify(store, acknowledged: acknowledged)
        } catch {
            try? store.close()
            throw error
        }
        try store.close()
        recovered += 1
        lostCommits += verdict.lostCommits
        partialBatches += verdict.partialBatch ? 1 : 0
        if verdict.lostCommits > 0 || verdict.partialBatch {
            note("\(cycle): \(verdict.lostCommits) acknowledged keys wrong or missing, partial batch: \(verdict.partialBatch), acknowledged \(acknowledged)")
        }
        // Continue from the verified state: after each commit in flight that turned out durable.
        return verdict.frontier
    }

    /// Sets the open-time distribution from the open times (milliseconds).
    mutating func setRecoveryTimes(_ opens: [Double]) {
        let sorted = opens.sorted()
        func percentile(_ fraction: Double) -> Double {
            SampleStatistics.percentile(sorted: sorted, fraction)
        }
        recoveryMs = .init(p50: percentile(0.5), p90: percentile(0.9), p99: percentile(0.99), p999: percentile(0.999), max: sorted.last ?? 0)
    }
}
