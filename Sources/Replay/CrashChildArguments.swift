import StoreCore

/// The command line of a crash child (`storebench crash-child`), built in this one place for
/// `run`'s kill points and `crash`'s cycles; the child's command parses the same flags.
public struct CrashChildArguments: Sendable {
    public var engine = ""
    public var directory = ""
    public var tracePath: String
    public var durability: Durability
    /// Seed and compressibility of the synthesized values (they must match the parent's).
    public var seed: UInt64
    public var compressibility: Double
    /// `NAME=VALUE` engine settings, as given to `--set`.
    public var settings: [String]
    public var degradation: String?
    /// Where the child continues, and with how many worker threads.
    public var frontier = ReplayFrontier()
    /// Commits between the child's `sync()` calls (0: none), which tell the parent the durability horizon.
    public var syncEvery = 0

    public init(tracePath: String, durability: Durability, seed: UInt64, compressibility: Double, settings: [String],
                degradation: String? = nil) {
        self.tracePath = tracePath
        self.durability = durability
        self.seed = seed
        self.compressibility = compressibility
        self.settings = settings
        self.degradation = degradation
    }

    /// This child, for `engine` in `directory`, continuing from `frontier`.
    public func child(engine: String, directory: String, from frontier: ReplayFrontier) -> CrashChildArguments {
        var copy = self
        copy.engine = engine
        copy.directory = directory
        copy.frontier = frontier
        return copy
    }

    public var arguments: [String] {
        var arguments = ["crash-child", "--engine", engine, "--dir", directory, "--trace", tracePath,
                         "--durability", durability.rawValue, "--seed", String(seed), "--compressibility", String(compressibility)]
        switch frontier.layout {
        case let .threads(count): arguments += ["--threads", String(count)]
        case let .roles(readers, writers): arguments += ["--readers", String(readers), "--writers", String(writers)]
        }
        arguments += ["--resume", frontier.argument]
        arguments += settings.flatMap { ["--set", $0] }
        if let degradation { arguments += ["--degrade", degradation] }
        if syncEvery > 0 { arguments += ["--sync-every", String(syncEvery)] }
        return arguments
    }
}
