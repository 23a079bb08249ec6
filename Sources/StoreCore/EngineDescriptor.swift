/// How the registry presents and opens one engine.
public struct EngineDescriptor: Sendable {
    /// The name users type (`--engines log,cow`), a variant's with its settings (`cow[commit=journal]`).
    public let name: String
    /// The registered engine's own name, which scopes its settings (`--set cow.chunk_size=…`):
    /// `name` but for a variant.
    public var settingsScope: String
    /// The strategy in a few words, e.g. `append-only log + in-memory index`.
    public let strategy: String
    /// One line for `storebench engines`.
    public let summary: String
    /// Whether the engine keeps data across close and reopen (the conformance suite runs its
    /// persistence tests only for these).
    public let isPersistent: Bool
    /// Largest key the engine takes (`StoreLimits.maxKeySize` unless its format is smaller; the
    /// conformance suite tests up to this and expects longer keys to be refused).
    public let maxKeySize: Int
    /// A reference engine (a library storebench does not implement): its own I/O is not counted
    /// by the durable file layer, so file bytes come from the kernel's counters.
    public let isReference: Bool
    /// Whether the engine runs maintenance on its own while writes go on (compactions, flushes),
    /// which the crash command aims some kills at. `cow` compacts only when asked.
    public let hasBackgroundMaintenance: Bool
    /// Settings under which the engine's maintenance (compactions, flushes, splits) happens often
    /// on a workload of a few thousand keys: the crash command and the fault tests use them, so
    /// kills and faults land in maintenance too.
    public let stressSettings: [String: String]
    /// The reference engines that implement the same strategy as this one, best known first
    /// (`lsm`: LevelDB, RocksDB): `dbbench` prints this engine's figures as ratios of theirs.
    public let peers: [String]
    /// Opens (creating or recovering) the store in `directory`.
    public let open: @Sendable (_ directory: String, _ options: StoreOptions) throws -> any Store

    public init(
        name: String, strategy: String, summary: String, isPersistent: Bool,
        maxKeySize: Int = StoreLimits.maxKeySize, isReference: Bool = false, hasBackgroundMaintenance: Bool = false,
        stressSettings: [String: String] = [:], peers: [String] = [],
        open: @escaping @Sendable (_ directory: String, _ options: StoreOptions) throws -> any Store
    ) {
        self.name = name
        settingsScope = name
        self.strategy = strategy
        self.summary = summary
        self.isPersistent = isPersistent
        self.maxKeySize = maxKeySize
        self.isReference = isReference
        self.hasBackgroundMaintenance = hasBackgroundMaintenance
        self.stressSettings = stressSettings
        self.peers = peers
        self.open = open
    }
}
