/// When a commit reaches stable storage. Every report states which one was used.
public enum Durability: String, Sendable, CaseIterable, Codable {
    /// A commit is on stable storage when the call returns (fdatasync per commit).
    case always
    /// The engine syncs at most `StoreOptions.syncInterval` after a commit.
    case interval
    /// Syncing is left to the operating system.
    case none
}
