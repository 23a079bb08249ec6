import StoreCore
import Workload

/// What `storebench crash` runs for a list of engines: for each, the cycles of every injected
/// fault (in process) and then the kill cycles (a child process per cycle), each engine with its
/// stress settings — which make its maintenance happen within a cycle — unless the settings given
/// name any setting of that engine.
public struct CrashCampaign {
    public var engines: [EngineDescriptor]
    /// Durability and the settings given (`--set`), for every engine.
    public var options: StoreOptions
    public var kills: Bool
    public var faults: [FaultCycles.Fault]
    public var configuration: CrashCycles.Configuration
    public var tracePath: String
    public var totalRecords: Int
    public var synthesizer: ValueSynthesizer
    /// Seed of the values the children write (the trace's own when it records one).
    public var valueSeed: UInt64
    public var layout: WorkerLayout
    /// The executable started as the crash child (`storebench`).
    public var executable: String
    /// Where each engine's store directories are made.
    public var scratch: String
    public var progress: ((String) -> Void)?
    /// Called after each engine's cycles of one kind (a progress line to clear).
    public var finishedCycles: (() -> Void)?

    public init(engines: [EngineDescriptor], options: StoreOptions, kills: Bool, faults: [FaultCycles.Fault],
                configuration: CrashCycles.Configuration, tracePath: String, totalRecords: Int, synthesizer: ValueSynthesizer,
                valueSeed: UInt64, layout: WorkerLayout, executable: String, scratch: String) {
        self.engines = engines
        self.options = options
        self.kills = kills
        self.faults = faults
        self.configuration = configuration
        self.tracePath = tracePath
        self.totalRecords = totalRecords
        self.synthesizer = synthesizer
        self.valueSeed = valueSeed
        self.layout = layout
        self.executable = executable
        self.scratch = scratch
    }

    /// The settings `engine` runs with: `given`, plus its stress settings (in its scope) when
    /// `given` names none of its own.
    public static func settings(for engine: EngineDescriptor, given: [String: String]) -> [String: String] {
        let scope = engine.settingsScope + "."
        guard !given.keys.contains(where: { $0.hasPrefix(scope) }) else { return given }
        var settings = given
        for (name, value) in engine.stressSettings { settings[scope + name] = value }
        return settings
    }

    /// Runs every engine's cycles, in order.
    /// - Returns: one kill-cycle report per engine (with `kills`), one fault report per engine and fault.
    public func run() throws -> (kills: [CrashCycles.Report], faults: [FaultCycles.Report]) {
        var killReports: [CrashCycles.Report] = []
        var faultReports: [FaultCycles.Report] = []
        for engine in engines {
            var engineOptions = options
            engineOptions.settings = Self.settings(for: engine, given: options.settings)
            if !faults.isEmpty {
                var cycles = FaultCycles(configuration: configuration, faults: faults, tracePath: tracePath, totalRecords: totalRecords,
                                         synthesizer: synthesizer, layout: layout)
                cycles.progress = progress
                faultReports += try cycles.run(engine: engine, directory: scratch + "/\(engine.name)-faults", options: engineOptions)
                finishedCycles?()
            }
            guard kills else { continue }
            var child = CrashChildArguments(tracePath: tracePath, durability: options.durability, seed: valueSeed,
                                            compressibility: synthesizer.compressibility,
                                            settings: engineOptions.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
            child.syncEvery = configuration.replaySyncEvery
            var cycles = CrashCycles(
                configuration: configuration, tracePath: tracePath, totalRecords: totalRecords, synthesizer: synthesizer,
                executable: executable, layout: layout
            ) { directory, start in
                child.child(engine: engine.name, directory: directory, from: start).arguments
            }
            cycles.progress = progress
            killReports.append(try cycles.run(engine: engine, directory: scratch + "/\(engine.name)", options: options))
            finishedCycles?()
        }
        return (killReports, faultReports)
    }
}
