#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import StoreTestSupport
import Synchronization
import Testing

@Suite("Group commit queue")
struct GroupCommitQueueTests {
    /// What the leaders wrote, in order (only leaders append, one at a time).
    final class Log: @unchecked Sendable {
        var entries: [(thread: Int, sequence: Int)] = []
        var groups: [Int] = []
        let leaders = Atomic<Int>(0)
        let concurrentLeaders = Atomic<Int>(0)
    }

    @Test("every request is written once, each thread's in its order, several per group under contention")
    func writesEachRequestOnce() throws {
        let queue = GroupCommitQueue<(thread: Int, sequence: Int)>()
        let log = Log()
        let threads = 8
        let perThread = 300
        try ConcurrentThreads.run(threads) { thread in
            for sequence in 0..<perThread {
                try queue.commit((thread, sequence)) { group in
                    // Only one leader at a time may run the body.
                    let running = log.concurrentLeaders.add(1, ordering: .acquiringAndReleasing).newValue
                    #expect(running == 1, "two leaders ran at once")
                    log.entries.append(contentsOf: group)
                    log.groups.append(group.count)
                    usleep(50)  // a slow log write lets followers queue up
                    log.concurrentLeaders.subtract(1, ordering: .acquiringAndReleasing)
                }
            }
        }
        #expect(log.entries.count == threads * perThread)
        for thread in 0..<threads {
            let mine = log.entries.filter { $0.thread == thread }.map(\.sequence)
            #expect(mine == Array(0..<perThread), "thread \(thread)'s requests in order, each once")
        }
        #expect(log.groups.count < threads * perThread, "some groups held several requests")
        let counts = queue.counts
        #expect(counts.requests == threads * perThread)
        #expect(counts.groups == log.groups.count)
    }

    struct Refused: Error {}

    @Test("a failed group write fails every request of the group and no other")
    func failureReachesTheGroup() throws {
        let queue = GroupCommitQueue<Int>()
        let failed = Protected<Set<Int>>([])
        let written = Protected<Set<Int>>([])
        try ConcurrentThreads.run(6) { thread in
            for n in 0..<200 {
                let request = thread * 1000 + n
                do {
                    try queue.commit(request) { group in
                        usleep(20)
                        // Every third group fails as a whole.
                        if group.contains(where: { $0 % 3 == 0 }) { throw Refused() }
                        written.withLock { $0.formUnion(group) }
                    }
                } catch is Refused {
                    failed.withLock { _ = $0.insert(request) }
                }
            }
        }
        let (failedSet, writtenSet) = (failed.withLock { $0 }, written.withLock { $0 })
        #expect(failedSet.isDisjoint(with: writtenSet))
        #expect(failedSet.count + writtenSet.count == 1200, "each request either written or told it failed")
        #expect(writtenSet.allSatisfy { $0 % 3 != 0 })
        var multiples: Set<Int> = []
        for thread in 0..<6 { for n in 0..<200 where (thread * 1000 + n) % 3 == 0 { multiples.insert(thread * 1000 + n) } }
        #expect(failedSet.isSuperset(of: multiples), "a request in a failed group is never acknowledged")
    }

    @Test("the group respects its weight cap")
    func weightCap() throws {
        let queue = GroupCommitQueue<Int>(maxGroupCount: 100, maxGroupWeight: 10)
        let largest = Atomic<Int>(0)
        try ConcurrentThreads.run(8) { _ in
            for _ in 0..<100 {
                try queue.commit(4, weight: 4) { group in
                    let weight = group.reduce(0, +)
                    #expect(weight <= 10 || group.count == 1)
                    largest.max(weight, ordering: .relaxed)
                    usleep(30)
                }
            }
        }
        #expect(largest.load(ordering: .relaxed) == 8, "two requests of weight 4 fit, three do not")
    }

    /// Store-wide work (a memtable switch, a close) goes through the queue so that no group runs
    /// beside it: it must form a group of its own, led by its own caller.
    @Test("a request committed alone runs in a group of its own, led by its caller", arguments: [false, true])
    func alone(gathering: Bool) throws {
        let queue = GroupCommitQueue<Int>(gathersReturningWriters: gathering)
        let groups = Protected<[[Int]]>([])
        try ConcurrentThreads.run(6) { thread in
            for index in 0..<200 {
                let alone = thread == 0 && index % 10 == 0
                try queue.commit(alone ? -1 : thread, alone: alone) { group in
                    if alone { try expect(group == [-1], "the caller leads its request alone, got \(group)") }
                    groups.withLock { $0.append(group) }
                    usleep(20)
                }
            }
        }
        let all = groups.withLock { $0 }
        #expect(all.contains { $0.count > 1 }, "other requests were grouped")
        #expect(all.filter { $0.contains(-1) }.allSatisfy { $0 == [-1] }, "a request committed alone shared a group")
        #expect(all.filter { $0.contains(-1) }.count == 20)
        #expect(all.reduce(0) { $0 + $1.count } == 1200)
    }
}
