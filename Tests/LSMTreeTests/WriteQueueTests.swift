#if canImport(Glibc)
import Glibc
#endif
@testable import LSMTree
import StoreCore
import StoreTestSupport
import Synchronization
import Testing

@Suite("lsm write queue concurrency")
struct WriteQueueConcurrencyTests {
    /// What the leaders ran, in order (only one leader runs at a time).
    final class Log: @unchecked Sendable {
        var groups: [[WriteRequest]] = []
        let running = Atomic<Int>(0)
    }

    static func key(_ request: WriteRequest) -> [UInt8]? {
        if case let .put(key, _) = request { return key }
        return nil
    }

    @Test("each request is written once, in each thread's order, one leader at a time, several per group under contention")
    func groups() throws {
        let queue = WriteQueue()
        let log = Log()
        let threads = 8
        let perThread = 300
        try ConcurrentThreads.run(threads) { thread in
            for index in 0..<perThread {
                try queue.commit(.put(key: numberedKey(index, prefix: "t\(thread)/"), value: []), weight: 10) { group in
                    let leaders = log.running.add(1, ordering: .acquiringAndReleasing).newValue
                    try expectEqual(leaders, 1, "one leader at a time")
                    log.groups.append(group)
                    usleep(30)  // a slow log write lets followers queue up
                    log.running.subtract(1, ordering: .acquiringAndReleasing)
                }
            }
        }
        let written = log.groups.flatMap { $0 }.compactMap(Self.key)
        #expect(written.count == threads * perThread)
        for thread in 0..<threads {
            let mine = written.filter { $0.starts(with: Array("t\(thread)/".utf8)) }
            #expect(mine == (0..<perThread).map { numberedKey($0, prefix: "t\(thread)/") }, "thread \(thread)'s requests once each, in order")
        }
        #expect(log.groups.count < threads * perThread / 2, "\(log.groups.count) groups for \(threads * perThread) requests")
        #expect(queue.counts.groups == log.groups.count && queue.counts.requests == written.count)
    }

    @Test("an exclusive request runs in a group of its own, led by its caller")
    func exclusiveAlone() throws {
        let queue = WriteQueue()
        let log = Log()
        try ConcurrentThreads.run(6) { thread in
            for index in 0..<200 {
                let request: WriteRequest = thread == 0 && index % 10 == 0 ? .exclusive : .put(key: [UInt8(thread)], value: [])
                try queue.commit(request, weight: 1) { group in
                    if request.isExclusive { try expect(group.count == 1 && group[0].isExclusive, "the exclusive caller leads it alone") }
                    log.groups.append(group)
                    usleep(20)
                }
            }
        }
        #expect(log.groups.contains { $0.count > 1 }, "other requests were grouped")
        for group in log.groups where group.contains(where: \.isExclusive) {
            #expect(group.count == 1, "an exclusive request shared a group of \(group.count)")
        }
        #expect(log.groups.filter { $0.contains(where: \.isExclusive) }.count == 20)
    }

    struct Refused: Error {}

    @Test("a failed group fails every writer in it and no other")
    func failures() throws {
        let queue = WriteQueue()
        let failed = Protected<Set<[UInt8]>>([])
        let written = Protected<Set<[UInt8]>>([])
        try ConcurrentThreads.run(6) { thread in
            for index in 0..<200 {
                let key = numberedKey(index, prefix: "t\(thread)/")
                do {
                    try queue.commit(.put(key: key, value: []), weight: 1) { group in
                        usleep(20)
                        // A group holding a key ending in 0 fails as a whole.
                        if group.contains(where: { Self.key($0)?.last == UInt8(ascii: "0") }) { throw Refused() }
                        written.withLock { $0.formUnion(group.compactMap(Self.key)) }
                    }
                } catch is Refused {
                    failed.withLock { _ = $0.insert(key) }
                }
            }
        }
        let (failedKeys, writtenKeys) = (failed.withLock { $0 }, written.withLock { $0 })
        #expect(failedKeys.isDisjoint(with: writtenKeys))
        #expect(failedKeys.count + writtenKeys.count == 1200, "each request either written or told it failed")
        #expect(writtenKeys.allSatisfy { $0.last != UInt8(ascii: "0") })
    }

    @Test("a group stays within its weight cap unless one request alone exceeds it")
    func weightCap() throws {
        let queue = WriteQueue(maxGroupCount: 100, maxGroupWeight: 10)
        let largest = Atomic<Int>(0)
        try ConcurrentThreads.run(8) { _ in
            for _ in 0..<100 {
                try queue.commit(.sync, weight: 4) { group in
                    largest.max(group.count * 4, ordering: .relaxed)
                    usleep(30)
                }
            }
        }
        #expect(largest.load(ordering: .relaxed) == 8, "two requests of weight 4 fit, three do not")
    }
}
