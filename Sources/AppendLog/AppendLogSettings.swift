import StoreCore

/// When the `log` engine compacts on its own.
public enum CompactionPolicy: String, Sendable, CaseIterable {
    /// Compact when dead bytes are at least `compaction_ratio` of all bytes and at least
    /// `compaction_min_dead` bytes.
    case ratio
    /// Hive's rule: more than 60 dead records and dead records more than 15% of all records.
    case hive
    /// Only when `compact()` is called.
    case manual
}

/// How the `log` engine compacts.
public enum CompactionMode: String, Sendable, CaseIterable {
    /// Stop the world: rewrite every live record into new segments; writers wait (a pause).
    case full
    /// A background thread merges sealed segments whose reclaimable bytes pass
    /// `merge_fragmentation`, while reads and writes go on.
    case incremental
}

/// The `log` engine's settings (`--set name=value`).
struct AppendLogSettings: Sendable {
    static let known: Set<String> = [
        "segment_size", "compaction_policy", "compaction_mode", "compaction_ratio",
        "compaction_min_dead", "merge_fragmentation", "use_hints", "preallocate",
    ]

    /// Bytes after which the active segment is sealed and a new one started.
    var segmentSize: Int
    var policy: CompactionPolicy
    var mode: CompactionMode
    var ratio: Double
    var minimumDeadBytes: Int
    /// Incremental mode: a sealed segment is merged when reclaimable bytes / size reach this.
    var mergeFragmentation: Double
    /// Read hint files on open (off: scan every segment; for measuring what hints save).
    var useHints: Bool
    /// Keep zero-filled, synced space ahead of the active segment's end, so a commit's fdatasync
    /// writes data only (no size or extent change to journal). Default: on under durability
    /// `always`, where every commit pays that sync; off otherwise, where the zeros would only add
    /// writes.
    var preallocate: Bool

    init(_ options: StoreOptions) throws(StoreError) {
        let settings = try options.engineSettings(for: AppendLogStore.engineName, known: Self.known)
        segmentSize = try settings.size("segment_size", default: 64 << 20, range: 4096...(1 << 30))
        policy = try settings.choice("compaction_policy", default: CompactionPolicy.ratio)
        mode = try settings.choice("compaction_mode", default: CompactionMode.full)
        ratio = try settings.fraction("compaction_ratio", default: 0.5, range: 0.01...1)
        minimumDeadBytes = try settings.size("compaction_min_dead", default: 1 << 20, range: 0...(1 << 40))
        mergeFragmentation = try settings.fraction("merge_fragmentation", default: 0.5, range: 0.01...1)
        useHints = try settings.flag("use_hints", default: true)
        preallocate = try settings.flag("preallocate", default: options.durability == .always)
    }
}
