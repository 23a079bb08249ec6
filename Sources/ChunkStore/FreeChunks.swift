/// Physical chunks that may be written: a min-heap, so new chunks go to the lowest free place and
/// the file's tail empties out on its own under churn. Chunks released by commit *T* wait in
/// `pending` (in commit order) until they may be overwritten: until a commit ≥ *T* is durable
/// (before that the previous durable meta may still need them) and no reader has a snapshot
/// older than *T* pinned.
struct FreeChunks {
    private var heap: [UInt32] = []
    /// Released chunks not yet reusable, and the commit that released each, oldest first.
    private var pending = CommitOrderedQueue<UInt32>()

    var count: Int { heap.count }
    var pendingCount: Int { pending.count }

    init(_ chunks: [UInt32] = []) {
        heap = chunks.sorted()  // a sorted array is a valid min-heap
    }

    /// Commit `txid` no longer uses `physical`.
    mutating func release(_ physical: UInt32, by txid: UInt64) {
        pending.append(physical, releasedBy: txid)
    }

    /// Chunks released by commits up to `txid` may be overwritten now.
    mutating func promote(upTo txid: UInt64) {
        while let physical = pending.next(through: txid) { push(physical) }
    }

    /// The highest chunk still waiting to become reusable (0: none).
    var highestPending: UInt32 {
        pending.waiting.reduce(0) { max($0, $1.element) }
    }

    /// Removes and returns the lowest free chunk below `limit`, if any.
    mutating func takeLowest(below limit: UInt64 = .max) -> UInt32? {
        guard let lowest = heap.first, UInt64(lowest) < limit else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
        return lowest
    }

    /// Drops every free chunk at or past `count` (the file was truncated there).
    mutating func removeAll(atOrAbove count: UInt64) {
        heap = heap.filter { UInt64($0) < count }.sorted()
    }

    var allFree: [UInt32] { heap }

    private mutating func push(_ value: UInt32) {
        heap.append(value)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var smallest = left
            if left + 1 < count && heap[left + 1] < heap[left] { smallest = left + 1 }
            guard heap[smallest] < heap[parent] else { return }
            heap.swapAt(smallest, parent)
            parent = smallest
        }
    }
}
