import StoreCore

/// SSTs that a compaction retired and that no version names any more: their numbers wait here
/// until the maintenance thread unlinks them. A file is added only when the last reader or scan
/// that could still read it has let go of its version, so no unlink pulls a file from under one.
final class ObsoleteFiles: Sendable {
    private struct State {
        var pending: [UInt64] = []
        /// Woken when a file is added (the store's maintenance thread), once it runs.
        var wakeTarget: MaintenanceThread?
    }

    private let state = Protected(State())

    init() {}

    func attach(_ thread: MaintenanceThread?) {
        state.withLock { $0.wakeTarget = thread }
    }

    func add(_ number: UInt64) {
        let thread = state.withLock { state in
            state.pending.append(number)
            return state.wakeTarget
        }
        thread?.wake()
    }

    /// The numbers added since the last call.
    func take() -> [UInt64] {
        state.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending
        }
    }

    var isEmpty: Bool { state.withLock { $0.pending.isEmpty } }
}
