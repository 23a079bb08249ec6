import StoreCore

/// Runs db_bench-style phases on each selected engine, each in a fresh directory (`dbbench`).
public struct DBBenchRunner {
    public var engines: [EngineDescriptor]
    public var configuration: DBBench.Configuration
    public var phases: [DBBench.Phase]
    public var options: StoreOptions
    /// Parent of the engines' directories; `nil`: a temporary directory, removed afterwards.
    public var parentDirectory: String?

    public init(engines: [EngineDescriptor], configuration: DBBench.Configuration, phases: [DBBench.Phase],
                options: StoreOptions, parentDirectory: String?) {
        self.engines = engines
        self.configuration = configuration
        self.phases = phases
        self.options = options
        self.parentDirectory = parentDirectory
    }

    public func run() throws -> [(engine: String, outcome: DBBench.Outcome)] {
        let parent = try parentDirectory ?? TemporaryDirectory.make()
        defer { if parentDirectory == nil { try? StorageDirectory.destroy(parent, fileSystem: options.fileSystem) } }
        var outcomes: [(engine: String, outcome: DBBench.Outcome)] = []
        for engine in engines {
            let path = parent + "/" + engine.name
            let probe = StorageDirectory(path: path, fileSystem: options.fileSystem, metrics: StoreMetrics())
            if try probe.status(of: ".") != nil {
                throw StoreError.invalidArgument("\(path) already exists; each engine run needs a fresh directory (remove it or choose another --dir)")
            }
            var benchmark = try DBBench(configuration)
            let outcome = try benchmark.run(
                phases, persistent: engine.isPersistent, countsSyncs: !engine.isReference,
                dropCachedPages: { try StorageDirectory(path: path, fileSystem: options.fileSystem, metrics: StoreMetrics()).dropCachedPages() }
            ) { extra in
                var options = self.options
                options.settings.merge(extra) { _, new in new }
                return try engine.open(path, options)
            }
            outcomes.append((engine.name, outcome))
            if parentDirectory == nil { try StorageDirectory.destroy(path, fileSystem: options.fileSystem) }
        }
        return outcomes
    }

}

extension DBBenchRunner {
    /// `repeats` rounds of every engine at every thread count (each in its own directory below
    /// `parentDirectory`: `round-N/`, `threads-N/` when there are several).
    /// - Returns: the last round's outcomes, and every round for medians and peer ratios.
    public static func rounds(
        engines: [EngineDescriptor], configuration: DBBench.Configuration, threadCounts: [Int], repeats: Int,
        phases: [DBBench.Phase], options: StoreOptions, parentDirectory: String?
    ) throws -> (last: [(engine: String, outcome: DBBench.Outcome)], rounds: DBBenchRounds) {
        var outcomes: [(engine: String, outcome: DBBench.Outcome)] = []
        var rounds = DBBenchRounds()
        for round in 1...max(1, repeats) {
            outcomes = []
            for count in threadCounts {
                var parent = parentDirectory
                if repeats > 1 { parent = parent.map { $0 + "/round-\(round)" } }
                if threadCounts.count > 1 { parent = parent.map { $0 + "/threads-\(count)" } }
                var perThreads = configuration
                perThreads.threads = count
                let runner = DBBenchRunner(engines: engines, configuration: perThreads, phases: phases, options: options, parentDirectory: parent)
                outcomes += try runner.run()
            }
            rounds.add(round: outcomes)
        }
        return (outcomes, rounds)
    }

    /// Each engine's peers among `engines` (`lsm`: LevelDB, RocksDB; `cow`: LMDB), for ratios.
    public static func peers(among engines: [EngineDescriptor]) -> [String: [String]] {
        Dictionary(engines.map { ($0.name, $0.peers.filter { peer in engines.contains { $0.name == peer } }) }) { first, _ in first }
    }
}
