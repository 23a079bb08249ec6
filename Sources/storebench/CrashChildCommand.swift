import ArgumentParser
import Engines
import Replay
import StoreCore
import Workload

/// The process `run`'s crash phase starts and kills: replays a trace on a store and writes each
/// acknowledged commit's trace position to standard output (binary). Not for direct use.
struct CrashChildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-child",
        abstract: "Internal: the process the crash-recovery check kills.",
        shouldDisplay: false
    )

    @Option var engine: String
    @Option var dir: String
    @Option var trace: String
    @Option var seed: UInt64
    @Option var compressibility: Double
    @Option var degrade: String?
    @Option var threads = 1
    @Option var readers: Int?
    @Option var writers: Int?
    /// Per worker, the trace position it continues from (`CrashChildArguments`).
    @Option var resume = "0"
    /// Commits between `sync()` calls, each reported to the parent (0: none).
    @Option var syncEvery = 0
    @OptionGroup var store: StoreOptionGroup

    func run() throws {
        let descriptor = try EngineRegistry.engine(named: engine)
        var options = try store.storeOptions()
        options.degradation = degrade.flatMap(Degradation.init(parsing:))
        let layout: WorkerLayout = if let readers, let writers { .roles(readers: readers, writers: writers) } else { .threads(threads) }
        guard layout.workers >= 1, layout.workers <= ThreadCounts.maximum else { throw ValidationError("bad thread layout") }
        let frontier = try ReplayFrontier(layout: layout, argument: resume)
        let opened = try descriptor.open(dir, options)
        try CrashChild.run(
            store: opened, tracePath: trace,
            synthesizer: ValueSynthesizer(seed: seed, compressibility: compressibility), from: frontier,
            degradation: options.degradation, syncEvery: syncEvery, acknowledgeTo: 1)
    }
}
