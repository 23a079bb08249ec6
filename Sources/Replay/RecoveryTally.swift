import Report
import StoreCore

/// What the reopens after a series of crashes or faults found, and the one reopen-and-check
/// step both the kill cycles and the fault cycles end each cycle with.
struct RecoveryTally {
    var recovered = 0
    var lostCommits = 0
    var partialBatches = 0
    var failedOpens = 0
    var problems: [String] = []
    /// Open times, milliseconds.
    private var opens: [Double] = []

    mutating func note(_ problem: @autoclosure () -> String) {
        if problems.count < 10 { problems.append(problem()) }
    }

    /// Reopens the store in `directory`, times the open and checks it against the trace.
    /// - Returns: the trace position to continue from, or nil when the open failed (the
    ///   directory is then destroyed, so the next cycle starts from position 0).
    mutating func reopenAndVerify(
        engine: EngineDescriptor, directory: String, options: StoreOptions, check: CrashCheck, acknowledged: Int, cycle: String
    ) throws -> Int? {
        let start = MonotonicClock.now()
        let store: any Store
        do {
            store = try engine.open(directory, options)
        } catch {
            failedOpens += 1
            note("\(cycle): open failed, last acknowledged position \(acknowledged): \(error)")
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
            note("\(cycle): \(verdict.lostCommits) acknowledged keys wrong or missing, partial batch: \(verdict.partialBatch), acknowledged position \(acknowledged)")
        }
        // Continue from the verified state: after the commit in flight when it turned out durable.
        return verdict.inFlightApplied == true ? verdict.inFlightEnd : acknowledged
    }

    /// The open-time distribution.
    var recoveryMs: Results.Latency {
        let sorted = opens.sorted()
        func percentile(_ fraction: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
        }
        return .init(p50: percentile(0.5), p90: percentile(0.9), p99: percentile(0.99), p999: percentile(0.999), max: sorted.last ?? 0)
    }
}

/// A report that carries a tally's figures (the kill and the fault cycles' reports).
protocol RecoveryFigures {
    var recovered: Int { get set }
    var lostCommits: Int { get set }
    var partialBatches: Int { get set }
    var failedOpens: Int { get set }
    var problems: [String] { get set }
    var recoveryMs: Results.Latency { get set }
}

extension RecoveryFigures {
    mutating func take(_ tally: RecoveryTally) {
        recovered = tally.recovered
        lostCommits = tally.lostCommits
        partialBatches = tally.partialBatches
        failedOpens = tally.failedOpens
        problems += tally.problems
        recoveryMs = tally.recoveryMs
    }
}

extension CrashCycles.Report: RecoveryFigures {}
extension FaultCycles.Report: RecoveryFigures {}
