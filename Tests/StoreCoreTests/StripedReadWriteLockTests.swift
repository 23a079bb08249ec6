#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Synchronization
import Testing

@Suite("Striped reader-writer lock")
struct StripedReadWriteLockTests {
    /// Two fields a writer changes together; a reader must never see them differ.
    final class Pair: @unchecked Sendable {
        var first = 0
        var second = 0
    }

    @Test("readers never see a writer's change half done, and writers get in while readers keep coming")
    func exclusion() throws {
        let lock = StripedReadWriteLock()
        let pair = Pair()
        let inside = Atomic<Int>(0)
        let mostInside = Atomic<Int>(0)
        let torn = Atomic<Int>(0)
        let writes = 2_000
        let writersDone = Atomic<Int>(0)
        try ConcurrentThreads.run(6) { thread in
            if thread < 2 {
                defer { writersDone.add(1, ordering: .releasing) }
                for _ in 0..<writes / 2 {
                    lock.withExclusiveLock {
                        pair.first += 1
                        sched_yield()  // a reader that got in now would see the pair differ
                        pair.second += 1
                    }
                }
                return
            }
            while writersDone.load(ordering: .acquiring) < 2 {
                lock.withSharedLock {
                    let now = inside.add(1, ordering: .relaxed).newValue
                    mostInside.max(now, ordering: .relaxed)
                    let before = (pair.first, pair.second)
                    for _ in 0..<20 { sched_yield() }
                    // No writer may have run while this reader held the lock.
                    if before.0 != before.1 || pair.first != before.0 || pair.second != before.1 {
                        torn.add(1, ordering: .relaxed)
                    }
                    inside.subtract(1, ordering: .relaxed)
                }
            }
        }
        #expect(torn.load(ordering: .relaxed) == 0, "a writer ran while a reader held the lock")
        #expect(pair.first == writes && pair.second == writes, "every write went in")
        #expect(mostInside.load(ordering: .relaxed) >= 2, "readers held the lock together")
    }

    @Test("a striped counter sums its stripes; each thread changes only its own")
    func stripedCounter() throws {
        let counter = StripedCounter()
        try ConcurrentThreads.run(8) { _ in
            let stripe = ThreadStripe.current()
            for _ in 0..<10_000 { counter.increment(stripe: stripe) }
            for _ in 0..<4_000 { counter.decrement(stripe: stripe) }
        }
        #expect(counter.total == 8 * 6_000)
        #expect((0..<ThreadStripe.count).contains(ThreadStripe.current()))
    }
}
