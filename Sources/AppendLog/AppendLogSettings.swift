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
    /// `deletes=tombstone-file` only: a full rewrite without deleted or overwritten records, then
    /// the tombstone file is emptied.
    case vacuum
}

/// How records are written in segments (setting `format`, fixed when the store is created).
public enum RecordFormat: String, Sendable, CaseIterable {
    /// Checksummed binary records (FORMAT.md, "Record").
    case binary
    /// One JSON object per line, keys and values in base64 (FORMAT.md, "JSON lines").
    case jsonl
}

/// Where deletes are recorded (setting `deletes`, fixed when the store is created).
public enum DeleteRecording: String, Sendable, CaseIterable {
    /// Delete records in the segments, beside the puts.
    case inline
    /// A separate append-only tombstone file; space comes back by `vacuum`.
    case tombstoneFile = "tombstone-file"

    /// The compaction modes that make sense for this way of recording deletes.
    var allowedModes: [CompactionMode] {
        switch self {
        case .inline: [.full, .incremental]
        case .tombstoneFile: [.vacuum]
        }
    }
}

/// The `log` engine's settings (`--set name=value`).
struct AppendLogSettings: Sendable {
    static let known: Set<String> = [
        "segment_size", "compaction_policy", "compaction_mode", "compaction_ratio",
        "compaction_min_dead", "merge_fragmentation", "use_hints", "preallocate", "format", "deletes",
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
    /// The variant: chosen at creation and recorded in the store (`VARIANT`); `resolve` fills it
    /// in from the store when the caller did not name it.
    var format: RecordFormat
    var deletes: DeleteRecording
    /// What the caller asked for, `nil` where it left the choice to the store.
    let requestedFormat: RecordFormat?
    let requestedDeletes: DeleteRecording?
    private let requestedMode: CompactionMode?

    init(_ options: StoreOptions) throws(StoreError) {
        let settings = try options.engineSettings(for: AppendLogStore.engineName, known: Self.known)
        segmentSize = try settings.size("segment_size", default: 64 << 20, range: 4096...(1 << 30))
        policy = try settings.choice("compaction_policy", default: CompactionPolicy.ratio)
        requestedMode = settings.values["compaction_mode"] == nil ? nil : try settings.choice("compaction_mode", default: CompactionMode.full)
        ratio = try settings.fraction("compaction_ratio", default: 0.5, range: 0.01...1)
        minimumDeadBytes = try settings.size("compaction_min_dead", default: 1 << 20, range: 0...(1 << 40))
        mergeFragmentation = try settings.fraction("merge_fragmentation", default: 0.5, range: 0.01...1)
        useHints = try settings.flag("use_hints", default: true)
        preallocate = try settings.flag("preallocate", default: options.durability == .always)
        requestedFormat = settings.values["format"] == nil ? nil : try settings.choice("format", default: RecordFormat.binary)
        requestedDeletes = settings.values["deletes"] == nil ? nil : try settings.choice("deletes", default: DeleteRecording.inline)
        format = requestedFormat ?? .binary
        deletes = requestedDeletes ?? .inline
        mode = .full
        try resolveMode()
    }

    /// Adopts the variant the store was created with (`recorded`); a variant the caller named
    /// that differs from it is an error naming both.
    mutating func resolve(recorded: (format: RecordFormat, deletes: DeleteRecording), path: String) throws(StoreError) {
        if let requestedFormat, requestedFormat != recorded.format {
            throw .invalidArgument("\(path): store was created with format=\(recorded.format.rawValue); opened with format=\(requestedFormat.rawValue)")
        }
        if let requestedDeletes, requestedDeletes != recorded.deletes {
            throw .invalidArgument("\(path): store was created with deletes=\(recorded.deletes.rawValue); opened with deletes=\(requestedDeletes.rawValue)")
        }
        format = recorded.format
        deletes = recorded.deletes
        try resolveMode()
    }

    /// The compaction mode: the one asked for when it fits the delete recording, else its default.
    private mutating func resolveMode() throws(StoreError) {
        let allowed = deletes.allowedModes
        if let requestedMode {
            guard allowed.contains(requestedMode) else {
                throw .invalidArgument("log setting `compaction_mode`: `\(requestedMode.rawValue)` does not apply with deletes=\(deletes.rawValue) (allowed: \(allowed.map(\.rawValue).joined(separator: ", ")))")
            }
            mode = requestedMode
        } else {
            mode = allowed[0]
        }
    }

    /// Every setting the store runs with, for results.
    var effective: [String: String] {
        [
            "segment_size": String(segmentSize), "compaction_policy": policy.rawValue,
            "compaction_mode": mode.rawValue, "compaction_ratio": String(ratio),
            "compaction_min_dead": String(minimumDeadBytes), "merge_fragmentation": String(mergeFragmentation),
            "use_hints": String(useHints), "preallocate": String(preallocate),
            "format": format.rawValue, "deletes": deletes.rawValue,
        ]
    }
}
