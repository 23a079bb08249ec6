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
    @OptionGroup var store: StoreOptionGroup

    func run() throws {
        let descriptor = try EngineRegistry.engine(named: engine)
        let opened = try descriptor.open(dir, try store.storeOptions())
        try CrashChild.run(
            store: opened, tracePath: trace,
            synthesizer: ValueSynthesizer(seed: seed, compressibility: compressibility), acknowledgeTo: 1)
    }
}
