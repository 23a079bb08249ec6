/// Physical chunks that may be written: a min-heap, so new chunks go to the lowest free place and
/// the file's tail empties out on its own under churn. Chunks released by a commit wait in
/// `pending` until a later commit is durable — until then the previous meta may still need them.
struct FreeChunks {
    private var heap: [UInt32] = []
    /// Released by commits that are not yet known durable.
    private(set) var pending: [UInt32] = []

    var count: Int { heap.count }
    var pendingCount: Int { pending.count }

    init(_ chunks: [UInt32] = []) {
        heap = chunks.sorted()  // a sorted array is a valid min-heap
    }

    mutating func release(_ physical: UInt32) {
        pending.append(physical)
    }

    /// The commit that released the pending chunks is durable: they may be overwritten.
    mutating func promotePending() {
        for chunk in pending { push(chunk) }
        pending.removeAll(keepingCapacity: true)
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
