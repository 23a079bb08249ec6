#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serialises writers the way LevelDB's write queue does: writers queue in arrival order; the
/// first one becomes the *leader*, takes the requests of the writers queued behind it (up to a
/// limit), writes them all with one log write and at most one sync, and then wakes them with the
/// outcome. Followers never touch the log: under durability `always` N concurrent writers cost
/// about one fsync per group instead of one each.
///
/// Only one leader runs at a time, so the body passed to `commit` runs serialised: it may
/// append to the store's log and change its write-side state without another lock. A lone writer
/// (no one queued, no leader running) takes a fast path with no allocation.
///
/// All requests of a group share one outcome: if the leader's body throws, every writer of the
/// group gets that error (none of them was acknowledged). Validate each request before `commit`.
///
/// A request committed with `alone: true` (a flush, a close) forms a group of its own, led by its
/// caller, so its body may change what every other commit relies on.
///
/// Each waiting writer sleeps on a condition of its own, so a finishing leader wakes the writers
/// it served and the next leader, not every waiter. `commit` is inlinable so that it is
/// specialised for the engine's request type: unspecialised, every call looks generic metadata
/// up at run time, about a tenth of a lone writer's time.
public final class GroupCommitQueue<Request>: @unchecked Sendable {
    @usableFromInline
    final class Waiter {
        @usableFromInline let request: Request
        @usableFromInline let weight: Int
        @usableFromInline let alone: Bool
        @usableFromInline var done = false
        @usableFromInline var error: (any Error)?
        /// `groupsWritten` when it queued.
        @usableFromInline let queuedAfter: Int
        @usableFromInline let condition: UnsafeMutablePointer<pthread_cond_t>

        @usableFromInline
        init(_ request: Request, weight: Int, alone: Bool, queuedAfter: Int) {
            self.request = request
            self.weight = weight
            self.alone = alone
            self.queuedAfter = queuedAfter
            condition = .allocate(capacity: 1)
            condition.initialize(to: pthread_cond_t())
            pthread_cond_init(condition, nil)
        }

        deinit {
            pthread_cond_destroy(condition)
            condition.deallocate()
        }
    }

    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var waiting: [Waiter] = []
    @usableFromInline var leaderRunning = false
    /// The leader's group, reused from commit to commit (only the leader touches it).
    @usableFromInline var group: [Request] = []
    @usableFromInline var groupWaiters: [Waiter] = []
    /// Caps on one group: requests, and the sum of their weights (e.g. bytes), so one leader's
    /// write stays bounded while a small request is never held behind a huge group.
    public let maxGroupCount: Int
    public let maxGroupWeight: Int
    /// Groups written and requests they held, for "commits per group" figures.
    @usableFromInline var groupsWritten = 0
    @usableFromInline var requestsWritten = 0
    /// Whether a new leader waits for the writers of the last group to queue again (see `init`).
    public let gathersReturningWriters: Bool
    /// Size of the last group and how long its write took, for that wait.
    @usableFromInline var lastGroupCount = 0
    @usableFromInline var lastWriteNanos: UInt64 = 0

    /// - Parameter gathersReturningWriters: for stores whose group write is slow because it
    ///   syncs. Writers that commit in a loop otherwise split into two halves that take turns —
    ///   one half is being acknowledged while the other already forms the next group — so a group
    ///   holds half of them. With this set, a leader that follows a group of several writers first
    ///   waits for them to queue again, at most half as long as that group's write took, so that a
    ///   group (and its one sync) holds nearly all of them.
    public init(maxGroupCount: Int = 1024, maxGroupWeight: Int = 1 << 20, gathersReturningWriters: Bool = false) {
        self.maxGroupCount = max(1, maxGroupCount)
        self.maxGroupWeight = max(1, maxGroupWeight)
        self.gathersReturningWriters = gathersReturningWriters
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        group.reserveCapacity(16)
        groupWaiters.reserveCapacity(16)
        waiting.reserveCapacity(16)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Commits `request` as part of a group. `write` runs on the leader's thread with the group's
    /// requests in arrival order (the leader's own first); it returns once they are durable as
    /// the store's durability option asks and visible to readers. With `alone`, the request
    /// forms a group of its own and its caller runs `write`.
    @inlinable
    public func commit(_ request: Request, weight: Int = 1, alone: Bool = false, _ write: (_ group: [Request]) throws -> Void) throws {
        pthread_mutex_lock(mutex)
        if !leaderRunning && waiting.isEmpty && (alone || !(gathersReturningWriters && lastGroupCount > 1)) {
            // Fast path: nobody to group with.
            leaderRunning = true
            group.removeAll(keepingCapacity: true)
            group.append(request)
            pthread_mutex_unlock(mutex)
            try runAsLeader(write)
            return
        }
        let waiter = Waiter(request, weight: weight, alone: alone, queuedAfter: groupsWritten)
        waiting.append(waiter)
        while !waiter.done && (leaderRunning || waiting.first !== waiter) {
            pthread_cond_wait(waiter.condition, mutex)
        }
        if waiter.done {
            let error = waiter.error
            pthread_mutex_unlock(mutex)
            if let error { throw error }
            return
        }
        // Leader: take the front of the queue, own request first.
        leaderRunning = true
        if gathersReturningWriters && lastGroupCount > 1 && !alone {
            // Queued while the last group was written, this leader's queue is one half of the
            // writers and that group the other; queued after it, it is one of them coming back.
            let queuedDuringLastGroup = groupsWritten > waiter.queuedAfter
            gatherReturningWriters(until: queuedDuringLastGroup ? waiting.count + lastGroupCount : max(waiting.count, lastGroupCount))
        }
        group.removeAll(keepingCapacity: true)
        groupWaiters.removeAll(keepingCapacity: true)
        var total = 0
        var taken = 0
        for candidate in waiting {
            if taken > 0 && (alone || candidate.alone || taken == maxGroupCount || total + candidate.weight > maxGroupWeight) { break }
            group.append(candidate.request)
            groupWaiters.append(candidate)
            total += candidate.weight
            taken += 1
        }
        waiting.removeFirst(taken)
        pthread_mutex_unlock(mutex)
        try runAsLeader(write)
    }

    /// Waits, holding leadership, until `count` writers queue (the writers of the last group have
    /// come back) or half the time the last group's write took has passed. Called and returns
    /// holding the mutex.
    @inlinable
    func gatherReturningWriters(until count: Int) {
        let target = min(count, maxGroupCount)
        let deadline = MonotonicClock.now() &+ min(lastWriteNanos / 2, 2_000_000)
        while waiting.count < target && MonotonicClock.now() < deadline {
            pthread_mutex_unlock(mutex)
            sched_yield()
            pthread_mutex_lock(mutex)
        }
    }

    /// Runs `write` on the group, then publishes the outcome to the writers it served and hands
    /// leadership to the front of the queue. Called with `leaderRunning` set and the mutex released.
    @inlinable
    func runAsLeader(_ write: ([Request]) throws -> Void) throws {
        var failure: (any Error)?
        let start = gathersReturningWriters ? MonotonicClock.now() : 0
        do {
            try write(group)
        } catch {
            failure = error
        }
        let finish = gathersReturningWriters ? MonotonicClock.now() : 0
        pthread_mutex_lock(mutex)
        groupsWritten += 1
        requestsWritten += group.count
        lastGroupCount = group.count
        lastWriteNanos = finish &- start
        for waiter in groupWaiters {
            waiter.done = true
            waiter.error = failure
            pthread_cond_signal(waiter.condition)
        }
        groupWaiters.removeAll(keepingCapacity: true)
        group.removeAll(keepingCapacity: true)
        leaderRunning = false
        if let next = waiting.first { pthread_cond_signal(next.condition) }
        pthread_mutex_unlock(mutex)
        if let failure { throw failure }
    }

    /// Groups written and requests in them so far, read consistently.
    public var counts: (groups: Int, requests: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (groupsWritten, requestsWritten)
    }
}
