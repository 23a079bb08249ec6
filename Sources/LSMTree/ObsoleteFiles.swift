import StoreCore

/// SSTs that a compaction retired and that no version names any more: their numbers wait here
/// until the maintenance thread unlinks them. A file is added only when the last reader or scan
/// that could still read it has let go of its version, so no unlink pulls a file from under one.
final class ObsoleteFiles: @unchecked Sendable {
    private let lock = Lock()
    private var pending: [UInt64] = []
    /// Woken when a file is added (the store's maintenance thread), once it runs.
    private var wakeTarget: MaintenanceThread?

    init() {}

    func attach(_ thread: MaintenanceThread?) {
        lock.withLock { wakeTarget = thread }
    }

    func add(_ number: UInt64) {
        let thread = lock.withLock { () -> MaintenanceThread? in
            pending.append(number)
            return wakeTarget
        }
        thread?.wake()
    }

    /// The numbers added since the last call.
    func take() -> [UInt64] {
        lock.withLock {
            defer { pending.removeAll() }
            return pending
        }
    }

    var isEmpty: Bool { lock.withLock { pending.isEmpty } }
}
