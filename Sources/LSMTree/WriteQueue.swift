#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// The store's writer queue: group commit, as LevelDB's write path does it. Writers queue in
/// arrival order; the first becomes the leader, takes the requests queued behind it (up to a
/// count and a weight), writes them as one group and wakes their writers with the outcome.
/// Only one leader runs at a time, so the leader's work needs no other lock to own the WAL and
/// the memtable. A lone writer takes a fast path without allocating.
///
/// StoreCore's `GroupCommitQueue` made concrete for `WriteRequest`, for two reasons measured on
/// the commit path: a generic class used from another module runs unspecialised (a metadata
/// lookup and witness-table copies of the request on every commit), and here each waiting writer
/// sleeps on a condition of its own, so a finishing leader wakes the writers it served and the
/// next leader rather than every waiter.
///
/// All requests of a group share one outcome. An `.exclusive` request always forms a group alone.
final class WriteQueue: @unchecked Sendable {
    private final class Writer {
        let request: WriteRequest
        let weight: Int
        var done = false
        var error: (any Error)?
        let condition: UnsafeMutablePointer<pthread_cond_t>

        init(_ request: WriteRequest, weight: Int) {
            self.request = request
            self.weight = weight
            condition = .allocate(capacity: 1)
            condition.initialize(to: pthread_cond_t())
            pthread_cond_init(condition, nil)
        }

        deinit {
            pthread_cond_destroy(condition)
            condition.deallocate()
        }
    }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var waiting: [Writer] = []
    private var leaderRunning = false
    /// The leader's group and the writers it serves (only the running leader touches them).
    private var group: [WriteRequest] = []
    private var groupWriters: [Writer] = []
    let maxGroupCount: Int
    let maxGroupWeight: Int
    private var groupsWritten = 0
    private var requestsWritten = 0

    init(maxGroupCount: Int = 1024, maxGroupWeight: Int = 1 << 20) {
        self.maxGroupCount = max(1, maxGroupCount)
        self.maxGroupWeight = max(1, maxGroupWeight)
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        group.reserveCapacity(64)
        groupWriters.reserveCapacity(64)
        waiting.reserveCapacity(64)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Commits `request` as part of a group. `write` runs on the leader's thread with the group's
    /// requests in arrival order (the leader's own first).
    func commit(_ request: WriteRequest, weight: Int, _ write: (_ group: [WriteRequest]) throws -> Void) throws {
        pthread_mutex_lock(mutex)
        if !leaderRunning && waiting.isEmpty {
            // Nobody to group with.
            leaderRunning = true
            pthread_mutex_unlock(mutex)
            group.append(request)
            try lead(write)
            return
        }
        let writer = Writer(request, weight: weight)
        waiting.append(writer)
        while !writer.done && (leaderRunning || waiting.first !== writer) {
            pthread_cond_wait(writer.condition, mutex)
        }
        if writer.done {
            let error = writer.error
            pthread_mutex_unlock(mutex)
            if let error { throw error }
            return
        }
        // The front of the queue and no leader: lead a group, own request first.
        leaderRunning = true
        var total = 0
        var taken = 0
        for candidate in waiting {
            if taken > 0 && (request.isExclusive || candidate.request.isExclusive
                             || taken == maxGroupCount || total + candidate.weight > maxGroupWeight) { break }
            group.append(candidate.request)
            groupWriters.append(candidate)
            total += candidate.weight
            taken += 1
        }
        waiting.removeFirst(taken)
        pthread_mutex_unlock(mutex)
        try lead(write)
    }

    /// Runs `write` on the group, then wakes the writers it served and the next leader.
    private func lead(_ write: ([WriteRequest]) throws -> Void) throws {
        var failure: (any Error)?
        do {
            try write(group)
        } catch {
            failure = error
        }
        pthread_mutex_lock(mutex)
        groupsWritten += 1
        requestsWritten += group.count
        for writer in groupWriters {
            writer.done = true
            writer.error = failure
            pthread_cond_signal(writer.condition)
        }
        groupWriters.removeAll(keepingCapacity: true)
        group.removeAll(keepingCapacity: true)
        leaderRunning = false
        if let next = waiting.first { pthread_cond_signal(next.condition) }
        pthread_mutex_unlock(mutex)
        if let failure { throw failure }
    }

    /// Groups written and requests in them so far, read consistently.
    var counts: (groups: Int, requests: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (groupsWritten, requestsWritten)
    }
}
