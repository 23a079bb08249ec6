#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Testing

@Suite("Group commit queue: gathering returning writers")
struct GroupCommitGatheringTests {
    /// Group sizes the leaders saw (only one leader runs at a time; the lock is for the checker).
    final class Sizes: @unchecked Sendable {
        private let lock = Lock()
        private var sizes: [Int] = []
        private var requests = Set<Int>()
        func record(_ group: [Int]) {
            lock.withLock {
                sizes.append(group.count)
                requests.formUnion(group)
            }
        }
        var all: (sizes: [Int], requests: Set<Int>) { lock.withLock { (sizes, requests) } }
    }

    /// Writers that commit in a loop against a slow (syncing) group write: without gathering
    /// they settle into two alternating halves; with it a group holds nearly all of them.
    @Test("with gathering, writers in a loop share groups of nearly all of them", arguments: [true, false])
    func gathering(enabled: Bool) throws {
        let queue = GroupCommitQueue<Int>(gathersReturningWriters: enabled)
        let sizes = Sizes()
        let threads = 8
        let perThread = 30
        try ConcurrentThreads.run(threads) { thread in
            for n in 0..<perThread {
                try queue.commit(thread * 1000 + n) { group in
                    sizes.record(group)
                    usleep(2000)  // an fsync
                }
            }
        }
        let (groupSizes, requests) = sizes.all
        #expect(requests.count == threads * perThread, "every request written once")
        // The first and last groups are small whatever happens: look at the steady state.
        let steady = groupSizes.dropFirst(2).dropLast(2)
        let average = Double(steady.reduce(0, +)) / Double(max(1, steady.count))
        if enabled {
            #expect(average >= 6, "groups of \(average) on average: \(groupSizes)")
        } else {
            #expect(average <= 6, "without gathering the groups alternate, \(average) on average: \(groupSizes)")
        }
    }
}
