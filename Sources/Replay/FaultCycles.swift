import FaultInjection
import Foundation
import ResultsSchema
import StoreCore
import Workload

/// Fault cycles on one store (`storebench crash --faults`): like the kill cycles, but the fault
/// is injected under the durable file layer, in process, so it can be one a kill cannot make.
///
/// - `power-loss`: the power goes out just before a random mutating system call (a write, sync,
///   truncate, rename or unlink — in a commit, a flush, a compaction or the open itself). Every
///   byte no fsync covered and every directory entry no directory fsync covered is dropped.
/// - `eio`, `enospc`: the Nth call of one kind (`pwrite`, `fdatasync`, `fsync`, `ftruncate`,
///   `rename`, `unlink`) fails with that errno. The store must report it (the commit that met it
///   is not acknowledged), and every commit it did acknowledge must survive.
///
/// After each fault the store is closed (whatever it still tries fails), reopened on the real
/// file system, timed and checked against the trace exactly like a kill: every acknowledged
/// commit present, the one in flight whole or absent, nothing else. The next cycle continues
/// the trace from the verified state.
public struct FaultCycles {
    public enum Fault: String, CaseIterable, Codable, Sendable {
        case powerLoss = "power-loss"
        case eio
        case enospc
    }

    /// The calls an I/O error is injected into.
    public static let failingCalls = ["pwrite", "fdatasync", "fsync", "ftruncate", "rename", "unlink"]

    /// What the cycles of one fault found for one engine.
    public struct Report: Codable, Sendable, Equatable {
        public var engine: String
        public var fault: Fault
        public var cycles = 0
        /// Cycles in which the fault happened (an I/O error may target a call the engine did not
        /// make within the cycle; a power loss always happens).
        public var injected = 0
        /// Injected faults that struck before the store had acknowledged anything in the cycle:
        /// during its open and recovery, or in maintenance its first write started (a `log`
        /// compaction left unfinished by the last fault runs again at the first write).
        public var beforeFirstAcknowledgement = 0
        /// Injected I/O errors the store reported to its caller (the rest hit work whose failure
        /// the store absorbed, or were reported by `close`).
        public var reported = 0
        public var recovered = 0
        public var lostCommits = 0
        public var partialBatches = 0
        public var failedOpens = 0
        /// Errors other than I/O errors met while the fault was injected (a store that calls its
        /// own files damaged after a failed write wrote them unsafely).
        public var unexpectedErrors = 0
        public var recoveryMs = Results.Latency(p50: 0, p90: 0, p99: 0, p999: 0, max: 0)
        public var problems: [String] = []

        public var passed: Bool { lostCommits == 0 && partialBatches == 0 && failedOpens == 0 && unexpectedErrors == 0 }
    }

    public let configuration: CrashCycles.Configuration
    public let faults: [Fault]
    public let tracePath: String
    public let totalRecords: Int
    public let synthesizer: ValueSynthesizer
    /// The worker threads that replay the trace on the store.
    public let layout: WorkerLayout
    public var progress: ((String) -> Void)?

    public init(configuration: CrashCycles.Configuration, faults: [Fault], tracePath: String, totalRecords: Int, synthesizer: ValueSynthesizer,
                layout: WorkerLayout = .threads(1)) {
        self.layout = layout
        self.configuration = configuration
        self.faults = faults
        self.tracePath = tracePath
        self.totalRecords = totalRecords
        self.synthesizer = synthesizer
    }

    /// Runs `configuration.iterations` cycles of each fault on a store of `engine` in `directory`,
    /// opened with `options` (its file system is replaced by the injecting one).
    public func run(engine: EngineDescriptor, directory: String, options: StoreOptions) throws -> [Report] {
        let real = options.fileSystem
        let check = CrashCheck(executable: "", childArguments: [], tracePath: tracePath, synthesizer: synthesizer)
        var random = SeededRandom(seed: configuration.seed ^ 0xFA17_FA17)
        var reports: [Report] = []
        for fault in faults {
            var report = Report(engine: engine.name, fault: fault)
            var frontier = ReplayFrontier(layout: layout)
            var opens: [Double] = []
            // Learned as the cycles go, so the faults land inside the work rather than after it:
            // mutating calls per trace record, and how often the engine makes each failing call
            // in a cycle (0: never — such calls are not picked again).
            var callsPerRecord = 4.0
            var callCounts: [String: Int] = [:]
            try StorageDirectory.destroy(directory, fileSystem: real)
            defer { try? StorageDirectory.destroy(directory, fileSystem: real) }
            for iteration in 1...configuration.iterations {
                report.cycles = iteration
                progress?("\(engine.name), \(fault.rawValue): cycle \(iteration)/\(configuration.iterations) from trace \(frontier)")
                let position = frontier.highest
                try StorageDirectory.createPath(directory, fileSystem: real)
                // Some faults land in the open (recovery), the rest anywhere in the cycle.
                let early = Double(random.next() >> 11) * 0x1.0p-53 < configuration.duringRecovery
                var outcome: Injection
                switch fault {
                case .powerLoss:
                    let power = try PowerLossFileSystem(directory: directory)
                    // The cut lands anywhere in the calls of a cycle of up to 4 windows of records,
                    // so work the first write sets off (a compaction the last cut interrupted) is
                    // cut in proportion to its share, and the workload moves on.
                    let records = 4 * configuration.window
                    let span = early ? 24 : max(24, Int(callsPerRecord * Double(records)))
                    power.arm(powerLossAt: 1 + random.below(span))
                    var injecting = options
                    injecting.fileSystem = power
                    outcome = replay(engine: engine, directory: directory, options: injecting, from: frontier, until: position + records)
                    let replayed = outcome.acknowledged.highest - frontier.lowest
                    if replayed >= 100 { callsPerRecord = Double(power.mutatingCalls) / Double(replayed) }
                    if !power.isDead { try power.powerLoss() }
                    outcome.injected = true
                case .eio, .enospc:
                    let candidates = Self.failingCalls.filter { callCounts[$0] != 0 }
                    let call = candidates[random.below(candidates.count)]
                    let nth = 1 + random.below(early ? 8 : max(1, callCounts[call] ?? 400))
                    let faulty = FaultyFileSystem(failing: call, nth: nth, errno: fault == .eio ? EIO : ENOSPC)
                    var injecting = options
                    injecting.fileSystem = faulty
                    let limit = position + 1 + random.below(configuration.window)
                    outcome = replay(engine: engine, directory: directory, options: injecting, from: frontier, until: limit)
                    outcome.injected = faulty.fired
                    if !faulty.fired && outcome.error == nil && outcome.acknowledged.highest >= limit {
                        // A whole cycle without reaching the Nth call: it makes this many.
                        callCounts[call] = faulty.calls
                    }
                }
                if outcome.injected {
                    report.injected += 1
                    if outcome.acknowledgedAny == false { report.beforeFirstAcknowledgement += 1 }
                    if outcome.error != nil { report.reported += 1 }
                }
                if let error = outcome.error, !outcome.expectedError {
                    report.unexpectedErrors += 1
                    report.note("cycle \(iteration): unexpected error \(error)")
                }
                let acknowledged = outcome.acknowledged

                var reopen = options
                reopen.fileSystem = real
                let next = try report.reopenAndVerify(
                    engine: engine, directory: directory, options: reopen, check: check, acknowledged: acknowledged,
                    cycle: "cycle \(iteration) (\(fault.rawValue))", opens: &opens)
                frontier = next ?? ReplayFrontier(layout: layout)
                if frontier.lowest >= totalRecords {
                    try StorageDirectory.destroy(directory, fileSystem: real)
                    frontier = ReplayFrontier(layout: layout)
                }
            }
            report.setRecoveryTimes(opens)
            reports.append(report)
        }
        return reports
    }

    /// What one faulty run did.
    struct Injection {
        /// What each worker had acknowledged.
        var acknowledged: ReplayFrontier
        var acknowledgedAny = false
        var injected = false
        /// The error that stopped the run, if any.
        var error: (any Error)?

        /// Whether the error is the kind a fault causes: an I/O error. Anything else (a file
        /// rejected as damaged) means the engine wrote unsafely.
        var expectedError: Bool {
            guard let error else { return true }
            switch error as? StoreError {
            case .io?, .library?: return true
            default: return false
            }
        }
    }

    /// Opens the store and replays the trace from `start` until trace position `limit`, the end
    /// of the trace, or the first error; then closes the store (an error from close counts only
    /// when nothing failed before: after a power loss or a failed write it fails too).
    private func replay(engine: EngineDescriptor, directory: String, options: StoreOptions, from start: ReplayFrontier, until limit: Int) -> Injection {
        var result = Injection(acknowledged: start)
        var store: (any Store)?
        let tally = AcknowledgementTally(start)
        do {
            let opened = try engine.open(directory, options)
            store = opened
            try CrashChild.replayCommits(store: opened, tracePath: tracePath, synthesizer: synthesizer, from: start, until: limit) { worker, position in
                tally.note(worker: worker, position: position)
            }
        } catch {
            result.error = error
        }
        (result.acknowledged, result.acknowledgedAny) = tally.state
        if let store {
            do { try store.close() } catch { if result.error == nil { result.error = error } }
        }
        return result
    }
}

/// Acknowledgements of an in-process replay, from however many worker threads.
final class AcknowledgementTally: @unchecked Sendable {
    private let lock = Lock()
    private var frontier: ReplayFrontier
    private var any = false

    init(_ start: ReplayFrontier) { frontier = start }

    func note(worker: Int, position: Int) {
        lock.withLock {
            frontier.advance(worker: worker, to: position)
            any = true
        }
    }

    var state: (ReplayFrontier, Bool) { lock.withLock { (frontier, any) } }
}
