import StoreCore
import Synchronization
import Workload

/// Trace records on their way from the dispatcher to one worker, a few hundred at a time, so
/// the hand-over costs one lock round per chunk rather than per operation. Keys and explicit
/// values sit in one byte arena; chunks are recycled, so a steady replay allocates nothing.
final class OperationChunk {
    static let capacity = 256

    struct Item {
        /// The record's kind; `nil` for a wait: do not go on before worker `waitWorker` has
        /// finished `waitProgress` items (an ordering point of a batch that spans workers).
        var kind: WorkloadOperation.Kind?
        var position = 0
        /// Due time in nanoseconds after the start, or `UInt64.max` when not paced.
        var due = UInt64.max
        var keyStart = 0
        var keyCount = 0
        var valueSize = 0
        /// Offset of explicit value bytes in the arena, or -1 when the value is synthesized.
        var valueStart = -1
        var scanCount = 0
        var waitWorker: Int { keyCount }
        var waitProgress: Int { position }
    }

    var items: [Item] = []
    var bytes: [UInt8] = []

    init() {
        items.reserveCapacity(Self.capacity)
        bytes.reserveCapacity(Self.capacity * 32)
    }

    var isFull: Bool { items.count >= Self.capacity }
    var isEmpty: Bool { items.isEmpty }

    func reset() {
        items.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
    }

    func append(_ operation: WorkloadOperation, position: Int, due: UInt64?) {
        var item = Item(kind: operation.kind, position: position, due: due ?? .max)
        item.keyStart = bytes.count
        item.keyCount = operation.key.count
        bytes.append(contentsOf: operation.key)
        item.valueSize = operation.valueSize
        if let value = operation.value, operation.kind.writesValue {
            item.valueStart = bytes.count
            bytes.append(contentsOf: value)
        }
        item.scanCount = operation.scanCount
        items.append(item)
    }

    func appendWait(worker: Int, progress: Int) {
        items.append(Item(kind: nil, position: progress, keyCount: worker))
    }

    /// Fills `operation` from item `index`, reusing its key buffer.
    @inline(__always)
    func fill(_ operation: inout WorkloadOperation, from item: Item) {
        operation.kind = item.kind!
        operation.key.removeAll(keepingCapacity: true)
        operation.key.append(contentsOf: bytes[item.keyStart..<(item.keyStart + item.keyCount)])
        operation.valueSize = item.valueSize
        operation.value = item.valueStart < 0 ? nil : Array(bytes[item.valueStart..<(item.valueStart + item.valueSize)])
        operation.scanCount = item.scanCount
        operation.timestamp = nil
    }
}

/// Raised once by whichever thread of a replay fails first; the others stop at their next
/// hand-over instead of waiting for work that will not come.
final class ReplayAbort: Sendable {
    private let flag = Atomic<Bool>(false)
    func raise() { flag.store(true, ordering: .releasing) }
    var isRaised: Bool { flag.load(ordering: .acquiring) }
}

/// The bounded queue of chunks from the dispatcher to one worker, and the chunks it gives back.
final class ChunkQueue: @unchecked Sendable {
    private let lock = Lock()
    private var ready: [OperationChunk] = []
    private var head = 0
    private var spare: [OperationChunk] = []
    private var ended = false
    private let capacity: Int
    private let abort: ReplayAbort

    init(capacity: Int, abort: ReplayAbort) {
        self.capacity = capacity
        self.abort = abort
    }

    /// Queues `chunk` unless the queue stays full for `milliseconds`.
    /// - Returns: whether it was queued (it is not when the queue stayed full or the replay aborted).
    func push(_ chunk: OperationChunk, waitingUpTo milliseconds: Int) -> Bool {
        lock.withLock {
            if ready.count - head >= capacity && !abort.isRaised {
                lock.wait(milliseconds: milliseconds)
            }
            guard ready.count - head < capacity, !abort.isRaised else { return false }
            ready.append(chunk)
            lock.broadcast()
            return true
        }
    }

    var hasRoom: Bool { lock.withLock { ready.count - head < capacity } }

    /// The next chunk, waiting for one; `nil` once the dispatcher has finished and every chunk
    /// was taken, or when the replay aborted.
    func pop() -> OperationChunk? {
        lock.withLock {
            while head == ready.count && !ended && !abort.isRaised {
                lock.wait(milliseconds: 10)
            }
            guard head < ready.count, !abort.isRaised else { return nil }
            let chunk = ready[head]
            head += 1
            if head == ready.count {
                ready.removeAll(keepingCapacity: true)
                head = 0
            }
            lock.broadcast()
            return chunk
        }
    }

    /// Gives a consumed chunk back for reuse.
    func recycle(_ chunk: OperationChunk) {
        chunk.reset()
        lock.withLock { spare.append(chunk) }
    }

    /// An empty chunk: a recycled one when there is one.
    func emptyChunk() -> OperationChunk {
        lock.withLock { spare.popLast() } ?? OperationChunk()
    }

    /// No more chunks will come.
    func finish() {
        lock.withLock {
            ended = true
            lock.broadcast()
        }
    }
}

/// How far each worker has got: the number of items of its stream it has finished. A worker
/// waits on another only at the ordering points of a batch that spans workers.
final class ProgressBoard: @unchecked Sendable {
    /// One counter per worker, each on its own cache line (only its worker writes it).
    private final class Counter: @unchecked Sendable {
        let value = Atomic<Int>(0)
        private let padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    private let counters: [Counter]
    private let sleepers = Atomic<Int>(0)
    private let lock = Lock()

    init(workers: Int) {
        counters = (0..<workers).map { _ in Counter() }
    }

    /// `worker` finished one more item.
    @inline(__always)
    func advance(_ worker: Int) {
        counters[worker].value.add(1, ordering: .releasing)
        if sleepers.load(ordering: .acquiring) > 0 {
            lock.withLock { lock.broadcast() }
        }
    }

    /// Waits until `worker` has finished `target` items.
    /// - Returns: `false` if the replay aborted first.
    func wait(for worker: Int, toReach target: Int, abort: ReplayAbort) -> Bool {
        let counter = counters[worker]
        for _ in 0..<64 {
            if counter.value.load(ordering: .acquiring) >= target { return true }
            ConcurrentThreads.yield()
        }
        sleepers.add(1, ordering: .acquiringAndReleasing)
        defer { sleepers.subtract(1, ordering: .acquiringAndReleasing) }
        return lock.withLock {
            while counter.value.load(ordering: .acquiring) < target {
                if abort.isRaised { return false }
                // Timed: an advance between the check and the wait cannot leave us asleep long.
                lock.wait(milliseconds: 1)
            }
            return true
        }
    }
}
