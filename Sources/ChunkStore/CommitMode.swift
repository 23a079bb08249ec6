/// How a `cow` commit reaches the disk (setting `commit`, chosen when the store is created and
/// recorded in its metas; see FORMAT.md).
public enum CommitMode: String, Sendable, CaseIterable {
    /// Shadow paging: new chunks to free chunks, fdatasync, then the meta naming them, fdatasync.
    case shadow
    /// Redo journal: the commit's chunks and meta go to `journal.cow` first (one fdatasync makes
    /// the commit durable), then to the chunk file, synced only at checkpoints.
    case journal
}
