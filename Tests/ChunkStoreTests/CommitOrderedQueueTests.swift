@testable import ChunkStore
import Testing

@Suite("cow commit-ordered queue")
struct CommitOrderedQueueTests {
    @Test("elements come out oldest first, only up to the bound, and the rest wait")
    func drainsUpToBound() {
        var queue = CommitOrderedQueue<Int>()
        for txid in 1...5 { queue.append(Int(txid) * 10, releasedBy: UInt64(txid)) }
        var out: [Int] = []
        while let element = queue.next(through: 3) { out.append(element) }
        #expect(out == [10, 20, 30])
        #expect(queue.count == 2)
        #expect(queue.waiting.map(\.element) == [40, 50])
        #expect(queue.next(through: 3) == nil, "nothing else is released by commit 3")
        while let element = queue.next(through: .max) { out.append(element) }
        #expect(out == [10, 20, 30, 40, 50] && queue.count == 0)
    }

    @Test("a long run of appends and drains keeps order and count across compactions")
    func compactsWithoutLoss() {
        var queue = CommitOrderedQueue<Int>()
        var next = 0
        var expected = 0
        for txid in 1...5_000 {
            for _ in 0..<3 { queue.append(next, releasedBy: UInt64(txid)); next += 1 }
            // Release everything but the last 200 commits' elements.
            while let element = queue.next(through: UInt64(max(0, txid - 200))) {
                #expect(element == expected)
                expected += 1
            }
            if queue.count != next - expected { Issue.record("count \(queue.count), expected \(next - expected)"); break }
        }
        #expect(queue.count == 600)
    }
}
