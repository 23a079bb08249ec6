import Synchronization

/// Counters every engine keeps, readable from any thread while the store runs. The durable file
/// layer updates the file counters itself, so no engine can forget to count a write or a sync.
public final class StoreMetrics: Sendable {
    /// Key and value bytes the user asked to write (puts, deletes, batches).
    let userBytes = Atomic<Int>(0)
    /// Bytes written to files through the durable file layer.
    let fileBytesWritten = Atomic<Int>(0)
    /// Bytes read from files through the durable file layer.
    let fileBytesRead = Atomic<Int>(0)
    /// fsync and fdatasync calls, on files and directories.
    let syncs = Atomic<Int>(0)
    let filesCreated = Atomic<Int>(0)
    let filesRemoved = Atomic<Int>(0)
    let renames = Atomic<Int>(0)
    private let events = Protected<[MaintenanceEvent]>([])
    /// Maintenance work running now (started, not yet recorded).
    private let activeMaintenance = Atomic<Int>(0)
    /// Maintenance work started so far: a change between two reads means work began in between.
    private let startedMaintenance = Atomic<Int>(0)

    public init() {}

    @inline(__always)
    public func addUserBytes(_ count: Int) {
        userBytes.add(count, ordering: .relaxed)
    }

    @inline(__always)
    func addFileBytesWritten(_ count: Int) {
        fileBytesWritten.add(count, ordering: .relaxed)
    }

    @inline(__always)
    func addFileBytesRead(_ count: Int) {
        fileBytesRead.add(count, ordering: .relaxed)
    }

    @inline(__always)
    func addSync() {
        syncs.add(1, ordering: .relaxed)
    }

    func addFileCreated() { filesCreated.add(1, ordering: .relaxed) }
    func addFileRemoved() { filesRemoved.add(1, ordering: .relaxed) }
    func addRename() { renames.add(1, ordering: .relaxed) }

    /// Appends a finished maintenance event.
    public func record(_ event: MaintenanceEvent) {
        events.withLock { $0.append(event) }
    }

    /// Marks the start of maintenance work, so a runner can tell which operations overlapped it.
    /// - Returns: the start time on `MonotonicClock`, for `finishMaintenance`.
    public func startMaintenance() -> UInt64 {
        activeMaintenance.add(1, ordering: .releasing)
        startedMaintenance.add(1, ordering: .releasing)
        return MonotonicClock.now()
    }

    /// Records the event of work begun with `startMaintenance` (its duration runs to now).
    public func finishMaintenance(
        _ kind: String, startedAt start: UInt64, bytesRead: Int, bytesWritten: Int, blockedWriters: Bool, detail: String = "",
        excludingNanos: UInt64 = 0
    ) {
        let elapsed = MonotonicClock.now() &- start
        record(MaintenanceEvent(
            kind: kind, startNanos: start, durationNanos: elapsed - min(excludingNanos, elapsed),
            bytesRead: bytesRead, bytesWritten: bytesWritten, blockedWriters: blockedWriters, detail: detail))
        activeMaintenance.subtract(1, ordering: .releasing)
    }

    /// Ends maintenance work begun with `startMaintenance` that failed (no event is recorded).
    public func abandonMaintenance() {
        activeMaintenance.subtract(1, ordering: .releasing)
    }

    /// A number that changes whenever maintenance starts, and is negative while any is running:
    /// an operation overlapped maintenance when the values before and after it differ or either is
    /// negative.
    @inline(__always)
    public var maintenanceMark: Int {
        let running = activeMaintenance.load(ordering: .acquiring)
        let started = startedMaintenance.load(ordering: .acquiring)
        return running > 0 ? -1 - started : started
    }

    /// Whether maintenance work is running now.
    @inline(__always)
    public var isMaintenanceRunning: Bool {
        activeMaintenance.load(ordering: .acquiring) > 0
    }

    /// Times `work` and records it as a maintenance event of `kind`. `work` returns the bytes it
    /// read and wrote and a detail line.
    /// - Parameter excludingNanos: time inside `work` that belongs to events of their own (a
    ///   flush run in the middle of a compaction), left out of this event's duration so that
    ///   summed maintenance time counts it once.
    public func measure<T>(
        _ kind: String, blockingWriters: Bool, excludingNanos: () -> UInt64 = { 0 },
        _ work: () throws -> (result: T, bytesRead: Int, bytesWritten: Int, detail: String)
    ) rethrows -> T {
        let start = startMaintenance()
        let outcome: (result: T, bytesRead: Int, bytesWritten: Int, detail: String)
        do {
            outcome = try work()
        } catch {
            abandonMaintenance()
            throw error
        }
        finishMaintenance(kind, startedAt: start, bytesRead: outcome.bytesRead, bytesWritten: outcome.bytesWritten,
                          blockedWriters: blockingWriters, detail: outcome.detail, excludingNanos: excludingNanos())
        return outcome.result
    }

    /// Events recorded so far, starting at index `from` (so a poller can fetch only new ones).
    public func events(from index: Int = 0) -> [MaintenanceEvent] {
        events.withLock { all in index < all.count ? Array(all[index...]) : [] }
    }

    public func snapshot() -> Snapshot {
        Snapshot(
            userBytesWritten: userBytes.load(ordering: .relaxed),
            fileBytesWritten: fileBytesWritten.load(ordering: .relaxed),
            fileBytesRead: fileBytesRead.load(ordering: .relaxed),
            syncs: syncs.load(ordering: .relaxed),
            filesCreated: filesCreated.load(ordering: .relaxed),
            filesRemoved: filesRemoved.load(ordering: .relaxed),
            renames: renames.load(ordering: .relaxed),
            eventCount: events.withLock { $0.count })
    }

    /// A consistent-enough copy of the counters (each read is atomic; together they are not).
    public struct Snapshot: Sendable, Equatable, Codable {
        public var userBytesWritten: Int
        public var fileBytesWritten: Int
        public var fileBytesRead: Int
        public var syncs: Int
        public var filesCreated: Int
        public var filesRemoved: Int
        public var renames: Int
        public var eventCount: Int

        public init(
            userBytesWritten: Int = 0, fileBytesWritten: Int = 0, fileBytesRead: Int = 0, syncs: Int = 0,
            filesCreated: Int = 0, filesRemoved: Int = 0, renames: Int = 0, eventCount: Int = 0
        ) {
            self.userBytesWritten = userBytesWritten
            self.fileBytesWritten = fileBytesWritten
            self.fileBytesRead = fileBytesRead
            self.syncs = syncs
            self.filesCreated = filesCreated
            self.filesRemoved = filesRemoved
            self.renames = renames
            self.eventCount = eventCount
        }

        /// Counters of two store instances (one opened after the other) added up.
        public static func + (a: Snapshot, b: Snapshot) -> Snapshot {
            Snapshot(
                userBytesWritten: a.userBytesWritten + b.userBytesWritten,
                fileBytesWritten: a.fileBytesWritten + b.fileBytesWritten,
                fileBytesRead: a.fileBytesRead + b.fileBytesRead, syncs: a.syncs + b.syncs,
                filesCreated: a.filesCreated + b.filesCreated, filesRemoved: a.filesRemoved + b.filesRemoved,
                renames: a.renames + b.renames, eventCount: a.eventCount + b.eventCount)
        }

        /// File bytes written per user byte written; `nil` before the user wrote anything.
        public var writeAmplification: Double? {
            userBytesWritten > 0 ? Double(fileBytesWritten) / Double(userBytesWritten) : nil
        }
    }
}
