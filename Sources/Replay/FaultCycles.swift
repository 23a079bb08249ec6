import FaultInjection
import Foundation
import ResultsSchema
import StoreCore
import Workload

/// Fault cycles on one store (`storebench crash --faults`): like the kill cycles, but the fault
/// is injected under the durable file layer, in process, so it can be one a kill cannot make.
///
/// - `power-loss`: the power goes out just before a random mutating system call (a write, sync,
///   truncate, create, rename or unlink — in a commit, a flush, a compaction or the open's
///   recovery), or at the end of the cycle without a clean close. `PowerLossFileSystem` then
///   rewrites the directory to `statesPerCut` states stable storage may hold — the synced data
///   only, then seeded states that keep unsynced writes whole, torn or out of order per 4 KiB
///   page and unsynced entry changes or not — and each is opened and checked.
/// - `fsync-eio`: one file sync fails with EIO and, as on Linux, the file's unsynced data is no
///   longer written by later syncs. The replay retries the failed commit as an application
///   would; every commit the store acknowledges after the error must survive the power loss that
///   follows (or the store must keep failing).
/// - `disk-full`: from some write on, every write and growing truncate fails with ENOSPC, until
///   space is freed after a number of failures; retried and checked the same way.
/// - `eio`, `enospc`: the Nth call of one kind (`pwrite`, `fdatasync`, `fsync`, `ftruncate`,
///   `rename`, `unlink`) fails once with that errno. The store must report it (the commit that
///   met it is not acknowledged), and every commit it did acknowledge must survive.
///
/// Each recovered state is checked against the trace with the durability horizon: the store must
/// equal the state after some prefix of the commits that includes every commit acknowledged
/// before the last completed sync (under `always`, every acknowledged commit). The next cycle
/// continues from the last state checked, as the crash left it (so its open recovers it).
public struct FaultCycles {
    public enum Fault: String, CaseIterable, Codable, Sendable {
        case powerLoss = "power-loss"
        case eio
        case enospc
        case fsyncError = "fsync-eio"
        case diskFull = "disk-full"

        /// Whether `PowerLossFileSystem` models the fault (a power loss ends the cycle).
        var cutsPower: Bool { self == .powerLoss || self == .fsyncError || self == .diskFull }
    }

    /// Attempts per write (and per open) under `fsync-eio` and `disk-full`, as an application
    /// retrying a failed commit would.
    static let retryAttempts = 8

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
        /// Crash states opened and checked (several per power loss); each is a recovery.
        public var states = 0
        /// States that kept some unsynced write torn or out of order.
        public var tornStates = 0
        public var recovered = 0
        /// Acknowledged commits (up to the durability horizon) missing after recovery.
        public var lostCommits = 0
        public var partialBatches = 0
        public var failedOpens = 0
        /// Recovered states equal to no prefix of the commits (or whose get and scan disagree).
        public var wrongStates = 0
        /// Opens refused with a corruption error naming the file, for states that keep unsynced
        /// writes torn or out of order (allowed: the store returns no wrong data).
        public var refusedOpens = 0
        /// Acknowledged commits past the durability horizon that recovery did not keep (allowed).
        public var unsyncedLost = 0
        /// `fsync-eio`, `disk-full`: commits the store acknowledged after an injected error (each
        /// must survive), and cycles in which it still refused after every retry.
        public var acknowledgedAfterError = 0
        public var storeFailed = 0
        /// Errors other than I/O errors met while the fault was injected (a store that calls its
        /// own files damaged after a failed write wrote them unsafely).
        public var unexpectedErrors = 0
        public var recoveryMs = Results.Latency(p50: 0, p90: 0, p99: 0, p999: 0, max: 0)
        public var problems: [String] = []

        public var passed: Bool { lostCommits == 0 && partialBatches == 0 && failedOpens == 0 && wrongStates == 0 && unexpectedErrors == 0 }
    }

    public let configuration: CrashCycles.Configuration
    public let faults: [Fault]
    public let tracePath: String
    public let totalRecords: Int
    public let synthesizer: ValueSynthesizer
    /// The worker threads that replay the trace on the store.
    public let layout: WorkerLayout
    public var progress: ((String) -> Void)?
    /// Puts a layer between the store and the fault-injecting file system (tests: a layer that
    /// lies about syncs, which the checks must catch).
    public var fileSystemLayer: (@Sendable (any FileSystem) -> any FileSystem)?

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
            // mutating calls, file syncs and writes per trace record, and how often the engine
            // makes each failing call in a cycle (0: never — such calls are not picked again).
            var rates = (calls: 4.0, syncs: 1.0, writes: 2.0)
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
                let records = 4 * configuration.window
                if fault.cutsPower {
                    let power = try PowerLossFileSystem(directory: directory, seed: configuration.seed &+ UInt64(iteration) &* 0x9E37_79B9_7F4A_7C15)
                    // The cut lands anywhere in the calls of a cycle of up to 4 windows of records,
                    // so work the first write sets off (a compaction the last cut interrupted) is
                    // cut in proportion to its share, and the workload moves on. After an I/O
                    // error it lands anywhere up to twice as far, so about half the cycles end
                    // at the end of the replay, with every commit made after the error at stake.
                    let span = early ? 24 : max(24, Int(rates.calls * Double(records)))
                    switch fault {
                    case .fsyncError:
                        power.failSync(nth: 1 + random.below(early ? 3 : max(1, Int(rates.syncs * Double(records)))))
                        power.arm(powerLossAt: 1 + random.below(2 * span))
                    case .diskFull:
                        power.fillDisk(afterWrites: 1 + random.below(early ? 8 : max(1, Int(rates.writes * Double(records)))),
                                       failing: 1 + random.below(12))
                        power.arm(powerLossAt: 1 + random.below(2 * span))
                    default:
                        power.arm(powerLossAt: 1 + random.below(span))
                    }
                    var injecting = options
                    injecting.fileSystem = fileSystemLayer?(power) ?? power
                    outcome = replay(engine: engine, directory: directory, options: injecting, from: frontier, until: position + records,
                                     attempts: fault == .powerLoss ? 1 : Self.retryAttempts) { power.cut() }
                    let replayed = outcome.acknowledged.highest - frontier.lowest
                    if replayed >= 100 {
                        rates = (Double(power.mutatingCalls) / Double(replayed), Double(power.fileSyncs) / Double(replayed),
                                 Double(power.writes) / Double(replayed))
                    }
                    power.cut()
                    switch fault {
                    case .fsyncError: outcome.injected = power.syncErrors > 0
                    case .diskFull: outcome.injected = power.spaceErrors > 0
                    default: outcome.injected = true
                    }
                    record(outcome, in: &report, iteration: iteration)
                    var reopen = options
                    reopen.fileSystem = real
                    // Every state is opened and checked; the last one is laid down again as the
                    // crash left it, for the next cycle to recover.
                    var next: ReplayFrontier?
                    for index in 0..<max(1, configuration.statesPerCut) {
                        let state = power.crashState(index)
                        try power.materialize(state)
                        report.states += 1
                        if state.tornOrReordered { report.tornStates += 1 }
                        next = try report.reopenAndVerify(
                            engine: engine, directory: directory, options: reopen, check: check, acknowledged: outcome.acknowledged,
                            horizon: configuration.durability == .always ? nil : outcome.horizon, mayRefuse: state.mayBeRefused,
                            cycle: "cycle \(iteration) (\(fault.rawValue), seed \(power.seed), \(state.summary))", opens: &opens)
                        if index == configuration.statesPerCut - 1, next != nil { try power.materialize(state) }
                    }
                    frontier = next ?? ReplayFrontier(layout: layout)
                } else {
                    let candidates = Self.failingCalls.filter { callCounts[$0] != 0 }
                    let call = candidates[random.below(candidates.count)]
                    let nth = 1 + random.below(early ? 8 : max(1, callCounts[call] ?? 400))
                    let faulty = FaultyFileSystem(failing: call, nth: nth, errno: fault == .eio ? EIO : ENOSPC)
                    var injecting = options
                    injecting.fileSystem = fileSystemLayer?(faulty) ?? faulty
                    let limit = position + 1 + random.below(configuration.window)
                    outcome = replay(engine: engine, directory: directory, options: injecting, from: frontier, until: limit, attempts: 1)
                    outcome.injected = faulty.fired
                    if !faulty.fired && outcome.error == nil && outcome.acknowledged.highest >= limit {
                        // A whole cycle without reaching the Nth call: it makes this many.
                        callCounts[call] = faulty.calls
                    }
                    record(outcome, in: &report, iteration: iteration)
                    var reopen = options
                    reopen.fileSystem = real
                    let next = try report.reopenAndVerify(
                        engine: engine, directory: directory, options: reopen, check: check, acknowledged: outcome.acknowledged,
                        horizon: configuration.durability == .always ? nil : outcome.horizon,
                        cycle: "cycle \(iteration) (\(fault.rawValue))", opens: &opens)
                    frontier = next ?? ReplayFrontier(layout: layout)
                }
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

    /// Adds what the faulty run did to the report.
    private func record(_ outcome: Injection, in report: inout Report, iteration: Int) {
        if outcome.injected {
            report.injected += 1
            if outcome.acknowledgedAny == false { report.beforeFirstAcknowledgement += 1 }
            if outcome.error != nil || outcome.errorsSeen > 0 { report.reported += 1 }
            report.acknowledgedAfterError += outcome.acknowledgedAfterError
            if outcome.error != nil && outcome.errorsSeen > 0 { report.storeFailed += 1 }
        }
        if let error = outcome.error, !outcome.expectedError {
            report.unexpectedErrors += 1
            report.note("cycle \(iteration): unexpected error \(error)")
        }
    }

    /// What one faulty run did.
    struct Injection {
        /// What each worker had acknowledged.
        var acknowledged: ReplayFrontier
        /// What the replay's completed `sync()` calls covered.
        var horizon: ReplayFrontier
        var acknowledgedAny = false
        var injected = false
        /// The error that stopped the run, if any.
        var error: (any Error)?
        /// I/O errors met and retried, and writes acknowledged after the first.
        var errorsSeen = 0
        var acknowledgedAfterError = 0

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
    /// of the trace, or the first error (a write or open that fails with an I/O error is tried up
    /// to `attempts` times); under `interval` and `none` it calls `sync()` every
    /// `syncEvery` commits. Then `beforeClose` (a power cut) and close (an error from close counts
    /// only when nothing failed before: after a power loss or a failed write it fails too).
    private func replay(engine: EngineDescriptor, directory: String, options: StoreOptions, from start: ReplayFrontier, until limit: Int,
                        attempts: Int, beforeClose: (() -> Void)? = nil) -> Injection {
        var result = Injection(acknowledged: start, horizon: start)
        var store: RetryingStore?
        let tally = AcknowledgementTally(start)
        let syncEvery = configuration.replaySyncEvery
        do {
            var opened: (any Store)?
            for attempt in 1...attempts where opened == nil {
                do {
                    opened = try engine.open(directory, options)
                } catch let error as StoreError {
                    guard case .io = error, attempt < attempts else { throw error }
                    result.errorsSeen += 1
                }
            }
            let retrying = RetryingStore(opened!, attempts: attempts)
            store = retrying
            try CrashChild.replayCommits(store: retrying, tracePath: tracePath, synthesizer: synthesizer, from: start, until: limit) { worker, position in
                if tally.note(worker: worker, position: position) % max(1, syncEvery) == 0 && syncEvery > 0 {
                    try retrying.sync()
                    tally.noteSync(worker: worker, position: position)
                }
            }
        } catch {
            result.error = error
        }
        (result.acknowledged, result.acknowledgedAny, result.horizon) = tally.state
        if let store {
            result.errorsSeen += store.errorsSeen
            result.acknowledgedAfterError = store.acknowledgedAfterError
            beforeClose?()
            do { try store.close() } catch { if result.error == nil && beforeClose == nil { result.error = error } }
        }
        return result
    }
}

/// Acknowledgements of an in-process replay, from however many worker threads.
final class AcknowledgementTally: @unchecked Sendable {
    private let lock = Lock()
    private var frontier: ReplayFrontier
    private var horizon: ReplayFrontier
    private var any = false
    private var commits = 0

    init(_ start: ReplayFrontier) {
        frontier = start
        horizon = start
    }

    /// Notes an acknowledged commit.
    /// - Returns: the commits noted so far.
    @discardableResult
    func note(worker: Int, position: Int) -> Int {
        lock.withLock {
            frontier.advance(worker: worker, to: position)
            any = true
            commits += 1
            return commits
        }
    }

    /// A `sync()` completed after the commit that reached `position`.
    func noteSync(worker: Int, position: Int) {
        lock.withLock { horizon.advance(worker: worker, to: position) }
    }

    var state: (ReplayFrontier, Bool, ReplayFrontier) { lock.withLock { (frontier, any, horizon) } }
}
