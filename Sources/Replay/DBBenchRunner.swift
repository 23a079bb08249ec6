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
