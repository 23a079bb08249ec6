/// One piece of maintenance work an engine did: a compaction, a flush, a merge, a relocation.
public struct MaintenanceEvent: Sendable, Equatable, Codable {
    /// What was done, e.g. `compaction`, `flush`, `merge`.
    public var kind: String
    /// Start on `MonotonicClock`'s timeline, in nanoseconds.
    public var startNanos: UInt64
    public var durationNanos: UInt64
    public var bytesRead: Int
    public var bytesWritten: Int
    /// Whether writers had to wait while it ran (a pause, as opposed to background work).
    public var blockedWriters: Bool
    /// A short free-form note (e.g. `L0→L1, 4 files`).
    public var detail: String

    public init(
        kind: String, startNanos: UInt64, durationNanos: UInt64,
        bytesRead: Int, bytesWritten: Int, blockedWriters: Bool, detail: String = ""
    ) {
        self.kind = kind
        self.startNanos = startNanos
        self.durationNanos = durationNanos
        self.bytesRead = bytesRead
        self.bytesWritten = bytesWritten
        self.blockedWriters = blockedWriters
        self.detail = detail
    }
}
