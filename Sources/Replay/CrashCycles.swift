import Foundation
import ResultsSchema
import StoreCore
import Workload

/// Repeated crash cycles on one store (`storebench crash`): each cycle starts a child that
/// continues the trace from where the last verified state left off — recovering, itself, the
/// directory exactly as the previous kill left it (WAL replay, hint loading, meta selection,
/// unfinished compactions) — and kills it with SIGKILL: after a random number of commits, at a
/// moment the store is doing maintenance, or after a seeded delay within the time the last open
/// took (inside that recovery). The parent checks each crash on a copy of the directory (opens
/// it, times the open, compares it with the trace, throws it away), so no clean close ever
/// happens between two children: every acknowledged commit up to the durability horizon
/// present, the store equal to some prefix of the commits, nothing else.
public struct CrashCycles {
    public struct Configuration: Sendable {
        public var iterations: Int
        public var seed: UInt64
        /// Share of kills aimed at maintenance work.
        public var aimAtMaintenance: Double
        /// Share of kills made before the child's first acknowledgement.
        public var duringRecovery: Double
        /// Largest number of trace records between two kills.
        public var window: Int
        /// The stores' durability: under `always` every acknowledged commit must survive; under
        /// `interval` and `none` those acknowledged before the last completed `sync()`.
        public var durability: Durability
        /// Commits between two `sync()` calls of the replay under `interval` and `none`.
        public var syncEvery: Int
        /// Crash states checked per power loss (the first: synced data only).
        public var statesPerCut: Int

        public init(iterations: Int, seed: UInt64, aimAtMaintenance: Double = 0.25, duringRecovery: Double = 0.1, window: Int = 1000,
                    durability: Durability = .always, syncEvery: Int = 64, statesPerCut: Int = 4) {
            self.iterations = iterations
            self.seed = seed
            self.aimAtMaintenance = aimAtMaintenance
            self.duringRecovery = duringRecovery
            self.window = window
            self.durability = durability
            self.syncEvery = syncEvery
            self.statesPerCut = statesPerCut
        }

        /// What a replay syncs: nothing under `always` (every commit is synced).
        public var replaySyncEvery: Int { durability == .always ? 0 : syncEvery }
    }

    /// What the cycles found for one engine.
    public struct Report: Codable, Sendable, Equatable {
        public var engine: String
        public var iterations = 0
        public var kills = 0
        public var killsDuringMaintenance = 0
        public var killsBeforeFirstAcknowledgement = 0
        /// Kills that landed before the child's open (its recovery of the last crash) finished.
        public var killsDuringRecovery = 0
        /// Recoveries checked.
        public var recovered = 0
        /// Acknowledged commits (up to the durability horizon) missing after recovery.
        public var lostCommits = 0
        public var partialBatches = 0
        public var failedOpens = 0
        /// Recovered states equal to no prefix of the commits (or whose get and scan disagree).
        public var wrongStates = 0
        /// Opens refused with a corruption error where the model allows it (never for kills).
        public var refusedOpens = 0
        /// Acknowledged commits past the durability horizon that recovery did not keep (allowed).
        public var unsyncedLost = 0
        /// Times the child ran to the end of the trace (the store then starts again, empty).
        public var completedTraces = 0
        public var recoveryMs = Latency(p50: 0, p90: 0, p99: 0, p999: 0, max: 0)
        /// The first problems, with the iteration and trace position.
        public var problems: [String] = []

        public typealias Latency = Results.Latency
        public var passed: Bool { lostCommits == 0 && partialBatches == 0 && failedOpens == 0 && wrongStates == 0 }
    }

    public let configuration: Configuration
    public let tracePath: String
    public let totalRecords: Int
    public let synthesizer: ValueSynthesizer
    public let executable: String
    /// The child's arguments for a directory and the frontier it continues from.
    public let childArguments: (_ directory: String, _ start: ReplayFrontier) -> [String]
    /// The child's worker threads.
    public let layout: WorkerLayout
    public var progress: ((String) -> Void)?

    public init(configuration: Configuration, tracePath: String, totalRecords: Int, synthesizer: ValueSynthesizer,
                executable: String, layout: WorkerLayout = .threads(1), childArguments: @escaping (String, ReplayFrontier) -> [String]) {
        self.layout = layout
        self.configuration = configuration
        self.tracePath = tracePath
        self.totalRecords = totalRecords
        self.synthesizer = synthesizer
        self.executable = executable
        self.childArguments = childArguments
    }

    public func run(engine: EngineDescriptor, directory: String, options: StoreOptions) throws -> Report {
        var report = Report(engine: engine.name)
        var random = SeededRandom(seed: configuration.seed)
        let check = CrashCheck(executable: executable, childArguments: [], tracePath: tracePath, synthesizer: synthesizer)
        var frontier = ReplayFrontier(layout: layout)
        var opens: [Double] = []
        // How long the last child took to open: kills aimed at recovery land within it.
        var openEstimate = 0.02
        try StorageDirectory.destroy(directory, fileSystem: options.fileSystem)
        defer { try? StorageDirectory.destroy(directory, fileSystem: options.fileSystem) }

        for iteration in 1...configuration.iterations {
            report.iterations = iteration
            let draw = Double(random.next() >> 11) * 0x1.0p-53
            let rule: CrashCheck.KillRule
            let position = frontier.highest
            if draw < configuration.duringRecovery {
                rule = .afterDelay(microseconds: UInt32(random.below(max(1000, Int(openEstimate * 1.2e6)))))
            } else if draw < configuration.duringRecovery + configuration.aimAtMaintenance {
                let from = position + 1 + random.below(max(1, configuration.window / 4))
                rule = .duringMaintenance(from: from, deadline: from + 20 * configuration.window)
            } else {
                rule = .afterAcknowledging(position + 1 + random.below(configuration.window))
            }
            progress?("\(engine.name): cycle \(iteration)/\(configuration.iterations) from trace \(frontier)")
            let child = try CrashCheck.runChild(executable: executable, arguments: childArguments(directory, frontier), from: frontier, rule: rule)
            if child.killed {
                report.kills += 1
                if child.duringMaintenance { report.killsDuringMaintenance += 1 }
                if child.acknowledged == nil { report.killsBeforeFirstAcknowledgement += 1 }
                if !child.opened { report.killsDuringRecovery += 1 }
            }
            if let seconds = child.openSeconds { openEstimate = seconds }
            guard let next = try report.reopenAndVerify(
                engine: engine, directory: directory, options: options, check: check, acknowledged: child.frontier,
                horizon: configuration.durability == .always ? nil : child.horizon, onCopy: true,
                cycle: "cycle \(iteration)", opens: &opens)
            else {
                frontier = ReplayFrontier(layout: layout)
                continue
            }
            frontier = next
            if !child.killed || frontier.lowest >= totalRecords {
                report.completedTraces += 1
                try StorageDirectory.destroy(directory, fileSystem: options.fileSystem)
                frontier = ReplayFrontier(layout: layout)
            }
        }
        report.setRecoveryTimes(opens)
        return report
    }
}
