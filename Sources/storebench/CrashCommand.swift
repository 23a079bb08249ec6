import ArgumentParser
import Engines
import Foundation
import Replay
import Report
import StoreCore
import Workload

struct CrashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash",
        abstract: "Kill -9 cycles: crash each engine over and over and check every recovery against the acknowledged commits.",
        discussion: """
            Per engine, one store lives through --iterations cycles. Each cycle a child process opens \
            the directory exactly as the previous kill left it (a real recovery), continues the workload \
            from the last verified state and reports every acknowledged commit over a pipe; the parent \
            kills it with SIGKILL — after a random number of commits, while the store is doing maintenance \
            (--aim-maintenance of the cycles), or inside its recovery (--during-recovery: a seeded delay \
            within the last open's time) — and checks the crash on a copy of the directory: the store must \
            equal the state after some prefix of the commits that holds every commit acknowledged before \
            the durability horizon (under always, every acknowledged commit; under interval and none, \
            those before the last completed sync(), called every --sync-every commits) and at most the one \
            in flight. Exit code 1 if any commit was lost, any state matched no prefix or any open failed.

            --faults adds cycles whose fault is injected under the durable file layer, in process: \
            `power-loss` (at a random mutating call; then --states crash states are checked: synced data \
            only, then unsynced writes kept whole, torn by 512-byte sectors or out of order per 4 KiB page, \
            and unsynced creates, renames and unlinks kept or undone), `fsync-eio` (a file sync fails and \
            its unsynced data is dropped, as on Linux; the failed commit is retried and every commit \
            acknowledged afterwards must survive the power loss that follows), `disk-full` (every write \
            fails with ENOSPC until space is freed; retried and checked the same way), `eio` and `enospc` \
            (the Nth write, sync, truncate, rename or unlink fails once). --iterations cycles of each.
            """
    )

    @Option(help: "Engines: a comma-separated list of names, `all` (ours) or `ref`.")
    var engines = "all"

    @Option(help: "Crash cycles per engine.")
    var iterations = 50

    @Option(help: "Seed of the workload, the values and the kill points.")
    var seed: UInt64 = 1

    @Option(help: "The workload: a shipped spec name, a YCSB properties file or a trace.")
    var workload = "crash"

    @Option(help: "Share of cycles killed while the store does maintenance.")
    var aimMaintenance = 0.25

    @Option(help: "Share of cycles killed before the child's first acknowledgement (during recovery).")
    var duringRecovery = 0.1

    @Option(help: "Faults: a comma-separated list of kill, power-loss, fsync-eio, disk-full, eio, enospc, or `all`.")
    var faults = "kill"

    @Option(help: "Crash states opened and checked per power loss (the first keeps only synced data; the others keep unsynced writes whole, torn or out of order).")
    var states = 4

    @Option(help: "Under durability interval or none: commits between two sync() calls of the replay (the durability horizon).")
    var syncEvery = 64

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    @Option(help: "Output: table or json.")
    var format: Format = .table

    @Option(help: "Writer threads replaying the workload in each cycle (operations shared by key hash; each thread's acknowledged commits must survive).")
    var threads = 1

    var layout: WorkerLayout { .threads(threads) }

    @OptionGroup var store: StoreOptionGroup

    /// `--faults`: whether the kill cycles run, and which faults are injected.
    private func parsedFaults() throws(ValidationError) -> (kills: Bool, injected: [FaultCycles.Fault]) {
        var kills = false
        var injected: [FaultCycles.Fault] = []
        for name in faults.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch name {
            case "kill": kills = true
            case "all":
                kills = true
                injected = FaultCycles.Fault.allCases
            default:
                guard let fault = FaultCycles.Fault(rawValue: name) else {
                    let known = ["kill"] + FaultCycles.Fault.allCases.map(\.rawValue) + ["all"]
                    throw ValidationError("unknown fault `\(name)`; known: \(known.joined(separator: ", "))")
                }
                if !injected.contains(fault) { injected.append(fault) }
            }
        }
        guard kills || !injected.isEmpty else { throw ValidationError("--faults names no fault") }
        return (kills, injected)
    }

    func validate() throws {
        _ = try parsedFaults()
        guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
        guard (1...ThreadCounts.maximum).contains(threads) else { throw ValidationError("--threads must be between 1 and \(ThreadCounts.maximum)") }
        guard states >= 1, syncEvery >= 1 else { throw ValidationError("--states and --sync-every must be positive") }
        if threads > 1, let durability = store.durability, durability != .always {
            throw ValidationError("--threads \(threads) checks durability always only: the durability-horizon check of interval and none matches one writer's commits")
        }
        guard (0...1).contains(aimMaintenance), (0...1).contains(duringRecovery), aimMaintenance + duringRecovery <= 1 else {
            throw ValidationError("--aim-maintenance and --during-recovery are shares that add up to at most 1")
        }
    }

    /// The JSON output: one report per engine for the kill cycles, one per engine and fault for
    /// the injected faults.
    struct Output: Encodable {
        var killCycles: [CrashCycles.Report]
        var faultCycles: [FaultCycles.Report]
    }

    func run() throws {
        let (kills, faultList) = try parsedFaults()
        let options = try store.storeOptions(defaultDurability: .always)
        let selected = try EngineRegistry.engines(matching: engines).filter(\.isPersistent)
        guard !selected.isEmpty else { throw ValidationError("no persistent engine in `\(engines)`") }
        // Power loss and I/O errors are injected under storebench's file layer; a reference
        // engine's library writes its files itself, where no fault can reach.
        let references = selected.filter(\.isReference).map(\.name)
        if !faultList.isEmpty && !references.isEmpty {
            throw ValidationError("\(references.joined(separator: ", ")) write\(references.count == 1 ? "s" : "") through \(references.count == 1 ? "its" : "their") own library, not storebench's file layer, so \(faultList.map(\.rawValue).joined(separator: ", ")) cannot be injected under \(references.count == 1 ? "it" : "them"); kill cycles run for every engine (--faults kill)")
        }
        let scratch = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let (tracePath, header, _) = try WorkloadCommand.materialize(workload, seed: seed, scratch: scratch)
        guard let total = try TraceReader.recordCount(path: tracePath) else { throw ValidationError("\(tracePath) is cut off") }
        let showProgress = isatty(2) != 0 && ProcessInfo.processInfo.environment["CI"] == nil
        var campaign = CrashCampaign(
            engines: selected, options: options, kills: kills, faults: faultList,
            configuration: CrashCycles.Configuration(iterations: iterations, seed: seed, aimAtMaintenance: aimMaintenance, duringRecovery: duringRecovery,
                                                     durability: options.durability, syncEvery: syncEvery, statesPerCut: states),
            tracePath: tracePath, totalRecords: total, synthesizer: ValueSynthesizer(seed: header.seed ?? seed), valueSeed: header.seed ?? seed,
            layout: layout, executable: CommandLine.executablePath, scratch: scratch)
        if showProgress {
            campaign.progress = Self.showProgress
            campaign.finishedCycles = { print("\r\u{1B}[K", terminator: "") }
        }
        let (reports, faultReports) = try campaign.run()
        if format == .json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(Output(killCycles: reports, faultCycles: faultReports)), as: UTF8.self))
        } else {
            print("storebench crash: \(iterations) cycles per engine and fault, workload \(workload) (\(total) trace records), durability \(options.durability.rawValue), \(layout), seed \(seed)\n")
            if kills { printKillTable(reports) }
            if !faultReports.isEmpty {
                if kills { print() }
                printFaultTable(faultReports)
            }
        }
        if reports.contains(where: { !$0.passed }) || faultReports.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}
