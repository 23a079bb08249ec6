import StoreCore
import Workload

/// Replays a trace on several worker threads against one store. A dispatcher thread reads the
/// trace (streaming, in constant memory) and hands each record to the worker `WorkerLayout`
/// picks, in chunks; every worker runs the same measured loop as a one-thread replay, with its
/// own replayer, buffers and histograms, which are merged exactly at the end.
///
/// Order: the records of one worker run in trace order, and all records on one key go to one
/// worker, so each key sees its operations in the recorded order. A batch whose keys belong to
/// several workers runs whole on one of them (the *owner*, the first key's worker) as one atomic
/// apply, after every other involved worker has finished what came before it in the trace, and
/// before those workers go on: wait items in the streams mark those two ordering points.
///
/// Pacing: due times are assigned by the dispatcher in trace order (a batch is one operation),
/// so `rate:N` is N operations per second over all workers and `recorded` keeps the trace's
/// timing; each worker waits for its operations' due times and measures latency from them.
public struct ParallelReplay {
    public var layout: WorkerLayout
    public var measured = MeasuredReplay()
    /// Chunks a worker may have queued ahead of it.
    var queueCapacity = 16

    public init(layout: WorkerLayout) {
        self.layout = layout
    }

    /// Replays `count` records of `reader` (positions from `position` on) against `store`.
    public func run(
        store: any Store, synthesizer: ValueSynthesizer, reader: inout TraceReader, startingAt position: Int, count: Int
    ) throws -> PhaseMeasurement {
        try run(store: store, synthesizer: synthesizer, reader: &reader, from: ReplayFrontier(layout: layout, start: position), count: count)
    }

    /// Continues a replay from `frontier`: `reader` stands at `frontier.lowest`, and of the next
    /// `count` records each worker skips those it had already executed.
    public func run(
        store: any Store, synthesizer: ValueSynthesizer, reader: inout TraceReader, from frontier: ReplayFrontier, count: Int
    ) throws -> PhaseMeasurement {
        precondition(frontier.layout == layout, "a frontier of another layout")
        let position = frontier.lowest
        let workers = layout.workers
        let acknowledge = AcknowledgeBox(measured.acknowledge)
        let abort = ReplayAbort()
        let queues = (0..<workers).map { _ in ChunkQueue(capacity: queueCapacity, abort: abort) }
        let progressBoard = ProgressBoard(workers: workers)
        let collected = CollectedMeasurements(workers: workers)
        let dispatcher = ReaderBox(reader: reader)
        let layout = self.layout
        let pace = measured.pace
        let start = MonotonicClock.now()
        let board = IntervalBoard(start: start, lengthSeconds: measured.sampleInterval, workers: workers,
                                  diskUsage: measured.diskUsage, progress: measured.progress)
        let gate = WarmUpGate(measured.warmUp, start: start)
        try ConcurrentThreads.run(workers + 1) { thread in
            do {
                if thread == workers {
                    var dispatch = TraceDispatcher(layout: layout, queues: queues, pacer: Pacer(pace), abort: abort)
                    try dispatch.run(dispatcher, frontier: frontier, count: count)
                    return
                }
                var replayer = Replayer(store: store, synthesizer: synthesizer, startingAt: position)
                var source = QueueSource(queue: queues[thread], progress: progressBoard, worker: thread, abort: abort)
                let measurement = try MeasuredReplay.replay(&replayer, from: &source, worker: thread, board: board, warmUp: gate,
                                                            acknowledge: acknowledge.body)
                collected.store(measurement, for: thread)
            } catch {
                abort.raise()
                throw error
            }
        }
        reader = dispatcher.reader
        var measurement = PhaseMeasurement()
        measurement.threads = workers
        var ended = start
        for worker in collected.all {
            measurement.add(worker)
            ended = max(ended, worker.ended)
        }
        measurement.finish(start: start, ended: ended, gate: gate)
        measurement.timeseries = try board.finish(at: ended)
        return measurement
    }

    /// The acknowledgement hook, handed to the worker threads (it sends on a pipe or updates a
    /// frontier under its own lock).
    private final class AcknowledgeBox: @unchecked Sendable {
        let body: ((Int, Int) throws -> Void)?
        init(_ body: ((Int, Int) throws -> Void)?) { self.body = body }
    }

    private final class CollectedMeasurements: @unchecked Sendable {
        private let lock = Lock()
        private var measurements: [WorkerMeasurement?]
        init(workers: Int) { measurements = Array(repeating: nil, count: workers) }
        func store(_ measurement: WorkerMeasurement, for worker: Int) {
            lock.withLock { measurements[worker] = measurement }
        }
        var all: [WorkerMeasurement] { lock.withLock { measurements.compactMap { $0 } } }
    }
}

/// Reads the trace and routes each record to its worker's queue.
struct TraceDispatcher {
    let layout: WorkerLayout
    let queues: [ChunkQueue]
    var pacer: Pacer
    let abort: ReplayAbort
    /// The chunk being filled for each worker.
    private var filling: [OperationChunk]
    /// Items routed to each worker so far (its stream length).
    private var routed: [Int]
    /// The records of the batch being gathered.
    private var batch: [(operation: WorkloadOperation, position: Int)] = []
    private var batchDue: UInt64?
    /// What each worker had executed before this replay (nothing, outside crash checks).
    private var frontier: ReplayFrontier

    init(layout: WorkerLayout, queues: [ChunkQueue], pacer: Pacer, abort: ReplayAbort) {
        self.layout = layout
        self.queues = queues
        self.pacer = pacer
        self.abort = abort
        filling = queues.map { $0.emptyChunk() }
        routed = Array(repeating: 0, count: queues.count)
        frontier = ReplayFrontier(layout: layout)
    }

    /// Routes `count` records from `frontier.lowest` on, skipping those a worker had already
    /// executed before `frontier`.
    mutating func run(_ state: ReaderBox, frontier: ReplayFrontier, count: Int) throws {
        defer { for queue in queues { queue.finish() } }
        self.frontier = frontier
        var operation = WorkloadOperation(.get)
        var position = frontier.lowest
        var remaining = count
        var inBatch = false
        while remaining > 0, !abort.isRaised, try state.reader.next(into: &operation) {
            remaining -= 1
            let due = pacer.due(of: operation)
            switch operation.kind {
            case .begin:
                if inBatch { try routeBatch(committed: false) }
                inBatch = true
                batch.removeAll(keepingCapacity: true)
                batch.append((operation, position))
                batchDue = due
            case .commit where inBatch:
                batch.append((operation, position))
                try routeBatch(committed: true)
                inBatch = false
            default:
                if inBatch {
                    batch.append((operation, position))
                } else {
                    // A lone commit (no begin) goes to worker 0, whose replayer reports it.
                    let worker = operation.kind == .commit ? 0 : layout.worker(for: operation.kind, key: operation.key)
                    if !frontier.isDone(position: position, worker: worker) {
                        try route(operation, position: position, due: due, to: worker)
                    }
                }
            }
            position += 1
        }
        // A batch the trace cut off before its commit is handed over as it is: the replayer
        // keeps it pending, as a one-thread replay would.
        if inBatch { try routeBatch(committed: false) }
        for worker in filling.indices where !filling[worker].isEmpty { try publish(worker) }
    }

    /// Routes the gathered batch to its owner, with the ordering points on every other worker
    /// its keys belong to.
    private mutating func routeBatch(committed: Bool) throws {
        var involved: [Int] = []
        for (operation, _) in batch where operation.kind != .begin && operation.kind != .commit {
            let worker = layout.worker(for: .put, key: operation.key)
            if !involved.contains(worker) { involved.append(worker) }
        }
        let owner = involved.first ?? 0
        // A batch its owner had committed before the frontier (a frontier falls between commits).
        if let begin = batch.first, frontier.isDone(position: begin.position, worker: owner) { return }
        let others = involved.dropFirst()
        for other in others {
            try appendWait(to: owner, worker: other, progress: routed[other])
        }
        for (index, (operation, position)) in batch.enumerated() {
            try route(operation, position: position, due: index == 0 ? batchDue : nil, to: owner)
        }
        guard committed else { return }
        let ownerDone = routed[owner]
        for other in others {
            try appendWait(to: other, worker: owner, progress: ownerDone)
        }
    }

    private mutating func route(_ operation: WorkloadOperation, position: Int, due: UInt64?, to worker: Int) throws {
        filling[worker].append(operation, position: position, due: due)
        routed[worker] += 1
        if filling[worker].isFull { try publish(worker) }
    }

    private mutating func appendWait(to worker: Int, worker other: Int, progress: Int) throws {
        filling[worker].appendWait(worker: other, progress: progress)
        routed[worker] += 1
        if filling[worker].isFull { try publish(worker) }
    }

    /// Queues `worker`'s chunk. While its queue is full, the other workers' partial chunks are
    /// handed over where there is room: a worker waiting at an ordering point may need records
    /// that sit in one of them, and the full queue drains only once it has them.
    private mutating func publish(_ worker: Int) throws {
        while !queues[worker].push(filling[worker], waitingUpTo: 1) {
            if abort.isRaised { return }
            for other in filling.indices where other != worker && !filling[other].isEmpty && queues[other].hasRoom {
                if queues[other].push(filling[other], waitingUpTo: 0) {
                    filling[other] = queues[other].emptyChunk()
                }
            }
        }
        filling[worker] = queues[worker].emptyChunk()
    }
}

/// The trace reader, handed to the dispatcher thread and back.
final class ReaderBox: @unchecked Sendable {
    var reader: TraceReader
    init(reader: TraceReader) { self.reader = reader }
}

/// One worker's view of its queue: the records the dispatcher routed to it.
struct QueueSource: ReplaySource {
    let queue: ChunkQueue
    let progress: ProgressBoard
    let worker: Int
    let abort: ReplayAbort
    private var chunk: OperationChunk?
    private var index = 0
    /// The record returned last has been executed once `next` is called again.
    private var returnedOne = false

    init(queue: ChunkQueue, progress: ProgressBoard, worker: Int, abort: ReplayAbort) {
        self.queue = queue
        self.progress = progress
        self.worker = worker
        self.abort = abort
    }

    @inline(__always)
    mutating func next(into operation: inout WorkloadOperation, slot: inout ReplaySlot) throws -> Bool {
        if returnedOne {
            progress.advance(worker)
            returnedOne = false
        }
        while true {
            if chunk == nil || index == chunk!.items.count {
                if let finished = chunk { queue.recycle(finished) }
                chunk = queue.pop()
                index = 0
                guard chunk != nil else { return false }
                continue
            }
            let item = chunk!.items[index]
            index += 1
            guard item.kind != nil else {
                guard progress.wait(for: item.waitWorker, toReach: item.waitProgress, abort: abort) else { return false }
                progress.advance(worker)
                continue
            }
            chunk!.fill(&operation, from: item)
            slot.position = item.position
            slot.due = item.due == .max ? nil : item.due
            returnedOne = true
            return true
        }
    }
}
