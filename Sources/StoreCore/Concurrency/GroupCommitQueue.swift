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
public final class GroupCommitQueue<Request>: @unchecked Sendable {
    private final class Waiter {
        let request: Request
        let weight: Int
        var done = false
        var error: (any Error)?
        init(_ request: Request, weight: Int) {
            self.request = request
            self.weight = weight
        }
    }

    private let lock = Lock()
    private var waiting: [Waiter] = []
    private var leaderRunning = false
    /// The leader's group, reused from commit to commit (only the leader touches it).
    private var group: [Request] = []
    private var groupWaiters: [Waiter] = []
    /// Caps on one group: requests, and the sum of their weights (e.g. bytes), so one leader's
    /// write stays bounded while a small request is never held behind a huge group.
    public let maxGroupCount: Int
    public let maxGroupWeight: Int
    /// Groups written and requests they held, for "commits per group" figures.
    private var groupsWritten = 0
    private var requestsWritten = 0

    public init(maxGroupCount: Int = 1024, maxGroupWeight: Int = 1 << 20) {
        self.maxGroupCount = max(1, maxGroupCount)
        self.maxGroupWeight = max(1, maxGroupWeight)
        group.reserveCapacity(16)
        groupWaiters.reserveCapacity(16)
    }

    /// Commits `request` as part of a group. `write` runs on the leader's thread with the group's
    /// requests in arrival order (the leader's own first); it returns once they are durable as
    /// the store's durability option asks and visible to readers.
    public func commit(_ request: Request, weight: Int = 1, _ write: (_ group: [Request]) throws -> Void) throws {
        lock.lock()
        if !leaderRunning && waiting.isEmpty {
            // Fast path: nobody to group with.
            leaderRunning = true
            group.removeAll(keepingCapacity: true)
            group.append(request)
            lock.unlock()
            try runAsLeader(write, waiters: false)
            return
        }
        let waiter = Waiter(request, weight: weight)
        waiting.append(waiter)
        while !waiter.done && (leaderRunning || waiting.first !== waiter) {
            lock.wait()
        }
        if waiter.done {
            let error = waiter.error
            lock.unlock()
            if let error { throw error }
            return
        }
        // Leader: take the front of the queue, own request first.
        leaderRunning = true
        group.removeAll(keepingCapacity: true)
        groupWaiters.removeAll(keepingCapacity: true)
        var total = 0
        var taken = 0
        for candidate in waiting {
            if taken > 0 && (taken == maxGroupCount || total + candidate.weight > maxGroupWeight) { break }
            group.append(candidate.request)
            groupWaiters.append(candidate)
            total += candidate.weight
            taken += 1
        }
        waiting.removeFirst(taken)
        lock.unlock()
        try runAsLeader(write, waiters: true)
    }

    /// Runs `write` on the group, then publishes the outcome and hands leadership on. Called with
    /// `leaderRunning` set and the lock released.
    private func runAsLeader(_ write: ([Request]) throws -> Void, waiters: Bool) throws {
        var failure: (any Error)?
        do {
            try write(group)
        } catch {
            failure = error
        }
        lock.lock()
        groupsWritten += 1
        requestsWritten += group.count
        if waiters {
            for waiter in groupWaiters {
                waiter.done = true
                waiter.error = failure
            }
            groupWaiters.removeAll(keepingCapacity: true)
        }
        group.removeAll(keepingCapacity: true)
        leaderRunning = false
        if !waiting.isEmpty || waiters { lock.broadcast() }
        lock.unlock()
        if let failure { throw failure }
    }

    /// Groups written and requests in them so far, read consistently.
    public var counts: (groups: Int, requests: Int) {
        lock.withLock { (groupsWritten, requestsWritten) }
    }
}
