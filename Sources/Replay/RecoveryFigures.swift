import Foundation
import ResultsSchema
import StoreCore

/// The figures a reopen after each crash or fault adds to (the kill and the fault cycles'
/// reports), and the one reopen-and-check step both kinds of cycle end with.
protocol RecoveryFigures {
    var recovered: Int { get set }
    var lostCommits: Int { get set }
    var partialBatches: Int { get set }
    var failedOpens: Int { get set }
    var wrongStates: Int { get set }
    var refusedOpens: Int { get set }
    var unsyncedLost: Int { get set }
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

    /// Reopens the store in `directory` (or, with `onCopy`, in a copy of it, so the directory
    /// itself stays as the crash left it for the next cycle to recover), times the open (into
    /// `opens`, milliseconds) and checks it against the trace with the durability horizon
    /// `horizon` (nil: every acknowledged commit must be there).
    /// `mayRefuse`: the state keeps unsynced writes torn or out of order, so the store may refuse
    /// it with a corruption error naming the file (counted apart; never wrong data).
    /// - Returns: the frontier to continue from, or nil when the open failed or the state is wrong
    ///   (the directory is then destroyed, so the next cycle starts from the beginning).
    mutating func reopenAndVerify(
        engine: EngineDescriptor, directory: String, options: StoreOptions, check: CrashCheck, acknowledged: ReplayFrontier,
        horizon: ReplayFrontier? = nil, onCopy: Bool = false, mayRefuse: Bool = false, cycle: String, opens: inout [Double]
    ) throws -> ReplayFrontier? {
        let opened = onCopy ? directory + ".check" : directory
        if onCopy { try CrashImage.copy(directory, to: opened) }
        defer { if onCopy { try? StorageDirectory.destroy(opened, fileSystem: options.fileSystem) } }
        let start = MonotonicClock.now()
        let store: any Store
        do {
            store = try engine.open(opened, options)
        } catch let error as StoreError where mayRefuse && error.isCorruption {
            refusedOpens += 1
            if refusedOpens == 1 { note("\(cycle): open refused (allowed for this state): \(error)") }
            try StorageDirectory.destroy(directory, fileSystem: options.fileSystem)
            return nil
        } catch {
            failedOpens += 1
            note("\(cycle): open failed, acknowledged \(acknowledged): \(error)")
            try StorageDirectory.destroy(directory, fileSystem: options.fileSystem)
            return nil
        }
        opens.append(MonotonicClock.seconds(since: start) * 1000)
        let verdict: CrashCheck.Verdict
        do {
            verdict = try check.verify(store, acknowledged: acknowledged, horizon: horizon)
        } catch let error as StoreError where error.isCorruption {
            // Damage found while reading: a refusal where the state allows one, else wrong.
            try? store.close()
            if mayRefuse { refusedOpens += 1 } else { wrongStates += 1 }
            note("\(cycle): reading the recovered store failed\(mayRefuse ? " (allowed for this state)" : ""): \(error)")
            try StorageDirectory.destroy(directory, fileSystem: options.fileSystem)
            return nil
        } catch {
            try? store.close()
            throw error
        }
        try store.close()
        recovered += 1
        lostCommits += verdict.lostCommits
        partialBatches += verdict.partialBatch ? 1 : 0
        wrongStates += verdict.wrongState ? 1 : 0
        unsyncedLost += verdict.unsyncedLost
        if !verdict.passed {
            note("\(cycle): \(verdict.lostCommits) acknowledged \(acknowledged.positions.count == 1 ? "commits" : "keys") lost, partial batch: \(verdict.partialBatch), matches no prefix: \(verdict.wrongState) (get/scan disagree on \(verdict.getScanDisagreements) keys), acknowledged \(acknowledged), horizon \(horizon ?? acknowledged), recovered \(verdict.recoveredCommits.map { "\($0) commits" } ?? "?")\(verdict.detail.isEmpty ? "" : ": " + verdict.detail)")
        }
        if verdict.wrongState {
            try StorageDirectory.destroy(directory, fileSystem: options.fileSystem)
            return nil
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

/// Copies of a store directory as a crash left it.
enum CrashImage {
    /// Copies the files of `directory` to `target` (replacing it; nothing when `directory` does
    /// not exist).
    static func copy(_ directory: String, to target: String) throws {
        let manager = FileManager.default
        if manager.fileExists(atPath: target) { try manager.removeItem(atPath: target) }
        // A child killed before its open created the directory left nothing: open a new store.
        guard manager.fileExists(atPath: directory) else { return }
        try manager.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in try manager.contentsOfDirectory(atPath: directory) {
            try manager.copyItem(atPath: directory + "/" + name, toPath: target + "/" + name)
        }
    }
}

extension StoreError {
    /// A store that calls its files damaged, naming one.
    var isCorruption: Bool {
        if case .corrupted = self { return true }
        return false
    }
}
