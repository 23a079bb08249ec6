import Foundation
import StoreCore
import Synchronization
import Workload

/// The child side of a crash test: replays a trace at full speed and, after every write commit
/// the store has acknowledged, writes an `Acknowledgement` (the worker and the trace position it
/// reached, 8 bytes) to a pipe, so the parent knows exactly which commits were acknowledged when
/// it kills the process. With several worker threads each worker acknowledges its own commits.
public enum CrashChild {
    /// - Parameter frontier: where to continue (the store already holds what each worker executed
    ///   before it); its layout gives the worker threads.
    /// - Parameter degradation: `earlyAcknowledgement` makes the child claim commits it has not
    ///   made yet (to prove that the checks catch lost commits).
    /// - Parameter syncEvery: under durability `interval` or `none`, call `sync()` after every
    ///   this many commits and report the position it covered (0: never), so the parent knows the
    ///   durability horizon.
    public static func run(store: any Store, tracePath: String, synthesizer: ValueSynthesizer, from frontier: ReplayFrontier,
                           degradation: Degradation? = nil, syncEvery: Int = 0, acknowledgeTo descriptor: Int32) throws {
        // The open (and its recovery) is over: the parent counts kills before this as kills in recovery.
        send(Acknowledgement(worker: Acknowledgement.openedWorker, position: 0, duringMaintenance: false), to: descriptor)
        let lead = degradation == .earlyAcknowledgement ? Degradation.earlyAcknowledgementLead : 0
        // Maintenance that runs inside a write (a stop-the-world compaction) sends no
        // acknowledgement while it runs: a watcher reports its start, repeating the last
        // acknowledgement with the maintenance flag set, so the parent can kill in the middle of it.
        let last = Atomic<UInt64>(Acknowledgement(worker: 0, position: frontier.positions[0], duringMaintenance: false).encoded)
        let metrics = store.metrics
        var wasRunning = false
        let watcher = MaintenanceThread(period: 1) {
            let running = metrics.isMaintenanceRunning
            if running && !wasRunning {
                var repeated = Acknowledgement(decoding: last.load(ordering: .acquiring))
                repeated.duringMaintenance = true
                send(repeated, to: descriptor)
            }
            wasRunning = running
        }
        defer { watcher.stop() }
        let commits = Atomic<Int>(0)
        try replayCommits(store: store, tracePath: tracePath, synthesizer: synthesizer, from: frontier) { worker, position in
            let acknowledgement = Acknowledgement(worker: worker, position: position + lead, duringMaintenance: metrics.isMaintenanceRunning)
            last.store(acknowledgement.encoded, ordering: .releasing)
            guard send(acknowledgement, to: descriptor) else {
                throw StoreError.io(call: "write", errno: errno, path: "acknowledgement pipe")
            }
            if syncEvery > 0, commits.add(1, ordering: .relaxed).newValue % syncEvery == 0 {
                try store.sync()
                send(Acknowledgement(worker: Acknowledgement.syncedWorker, position: position + lead, duringMaintenance: false), to: descriptor)
            }
        }
        watcher.stop()
        try store.close()
    }

    /// Replays the trace on `store` from `frontier` (the store already holds what each worker
    /// executed before it) until trace position `limit` or the end, calling `acknowledged` with
    /// the worker and the position it reached after every write commit the store acknowledged
    /// (from that worker's thread). Shared by the killed child and the in-process fault cycles.
    static func replayCommits(
        store: any Store, tracePath: String, synthesizer: ValueSynthesizer, from frontier: ReplayFrontier, until limit: Int = .max,
        acknowledged: @escaping (_ worker: Int, _ position: Int) throws -> Void
    ) throws {
        var reader = try TraceReader(path: tracePath)
        var operation = WorkloadOperation(.get)
        let start = frontier.lowest
        for _ in 0..<start where try !reader.next(into: &operation) { break }
        if frontier.layout.workers > 1 {
            var parallel = ParallelReplay(layout: frontier.layout)
            parallel.measured.acknowledge = acknowledged
            _ = try parallel.run(store: store, synthesizer: synthesizer, reader: &reader, from: frontier,
                                 count: limit == .max ? .max : max(0, limit - start))
            return
        }
        var replayer = Replayer(store: store, synthesizer: synthesizer, startingAt: start)
        while replayer.position < limit, try reader.next(into: &operation) {
            guard case let .completed(_, isWrite, _, _) = try replayer.execute(operation, start: 0, mark: 0), isWrite else { continue }
            try acknowledged(0, replayer.position)
        }
    }

    /// Writes one acknowledgement (8 bytes: a pipe write this small is atomic, so two threads may
    /// send them).
    @discardableResult
    static func send(_ acknowledgement: Acknowledgement, to descriptor: Int32) -> Bool {
        var value = acknowledgement.encoded.littleEndian
        return withUnsafeBytes(of: &value) { write(descriptor, $0.baseAddress, 8) } == 8
    }
}

/// The parent side: starts the child, kills it with SIGKILL once it has acknowledged the commit
/// at a chosen trace position, reopens the store (timing the open) and checks it against a model
/// of the trace: every acknowledged commit must be there, each worker's one commit in flight may
/// be there whole or not at all, and nothing else may be.
public struct CrashCheck {
    public struct Outcome: Sendable {
        /// What each worker had acknowledged when the child died.
        public var acknowledged: ReplayFrontier
        /// Whether the child was killed (it may finish first when the kill point is past the end).
        public var killed: Bool
        public var openSeconds: Double
        /// Keys whose acknowledged value is missing or wrong after recovery.
        public var lostCommits: Int
        /// A commit in flight was found partly applied.
        public var partialBatch: Bool
        public var verified: Bool { lostCommits == 0 && !partialBatch }
    }

    public let executable: String
    public let childArguments: [String]
    public let tracePath: String
    public let synthesizer: ValueSynthesizer

    public init(executable: String, childArguments: [String], tracePath: String, synthesizer: ValueSynthesizer) {
        self.executable = executable
        self.childArguments = childArguments
        self.tracePath = tracePath
        self.synthesizer = synthesizer
    }

    /// When the parent kills the child.
    public enum KillRule: Sendable {
        /// Once a worker has acknowledged this trace position (or a later one).
        case afterAcknowledging(Int)
        /// At the first acknowledgement from `from` on that arrives while the store is doing
        /// maintenance; at `deadline` when none has by then.
        case duringMaintenance(from: Int, deadline: Int)
        /// This many microseconds after it starts, acknowledged or not (it may still be opening
        /// and recovering the store).
        case afterDelay(microseconds: UInt32)
    }

    /// What happened to one child.
    public struct ChildOutcome: Sendable {
        /// The furthest trace position any worker acknowledged, if any acknowledgement arrived.
        public var acknowledged: Int?
        /// What each worker had acknowledged (the start frontier where it acknowledged nothing).
        public var frontier: ReplayFrontier
        public var killed: Bool
        /// The kill came right after an acknowledgement sent during maintenance.
        public var duringMaintenance: Bool
        /// The child reported its open (and recovery) finished.
        public var opened = false
        /// Seconds from the child's start to that report.
        public var openSeconds: Double?
        /// The durability horizon: the positions its completed `sync()` calls covered (the start
        /// frontier until one completes).
        public var horizon: ReplayFrontier
    }

    /// Starts `executable arguments…`, a child continuing from `frontier`, reads its
    /// acknowledgements and kills it by `rule`.
    public static func runChild(executable: String, arguments: [String], from frontier: ReplayFrontier, rule: KillRule) throws -> ChildOutcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let acknowledgements = Pipe()
        let errors = Pipe()
        process.standardOutput = acknowledgements
        process.standardError = errors
        try process.run()
        let started = MonotonicClock.now()
        var outcome = ChildOutcome(acknowledged: nil, frontier: frontier, killed: false, duringMaintenance: false, horizon: frontier)
        if case let .afterDelay(microseconds) = rule {
            usleep(microseconds)
            kill(process.processIdentifier, SIGKILL)
            outcome.killed = true
        }
        let descriptor = acknowledgements.fileHandleForReading.fileDescriptor
        var buffer = [UInt8](repeating: 0, count: 8 * 4096)
        var partial: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            partial += buffer[0..<count]
            let whole = partial.count / 8 * 8
            guard whole > 0 else { continue }
            for offset in stride(from: 0, to: whole, by: 8) {
                let value = partial.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
                let acknowledgement = Acknowledgement(decoding: value)
                if acknowledgement.worker == Acknowledgement.openedWorker {
                    outcome.opened = true
                    outcome.openSeconds = MonotonicClock.seconds(since: started)
                    continue
                }
                if acknowledgement.worker == Acknowledgement.syncedWorker {
                    outcome.horizon.advance(worker: 0, to: acknowledgement.position)
                    continue
                }
                // The maintenance watcher may repeat a position read just before a newer one was
                // acknowledged: keep the highest, per worker.
                outcome.frontier.advance(worker: acknowledgement.worker, to: acknowledgement.position)
                outcome.acknowledged = max(outcome.acknowledged ?? 0, acknowledgement.position)
                if !outcome.killed, let position = outcome.acknowledged {
                    let sawMaintenance = acknowledgement.duringMaintenance
                    let due: Bool
                    switch rule {
                    case let .afterAcknowledging(target): due = position >= target
                    case let .duringMaintenance(from, deadline): due = (position >= from && sawMaintenance) || position >= deadline
                    case .afterDelay: due = false
                    }
                    // Every acknowledgement already read counts, the ones after the kill too: the
                    // child sent them before it died.
                    if due {
                        kill(process.processIdentifier, SIGKILL)
                        outcome.killed = true
                        outcome.duringMaintenance = sawMaintenance
                    }
                }
            }
            partial.removeFirst(whole)
        }
        process.waitUntilExit()
        if !outcome.killed && process.terminationStatus != 0 {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw StoreError.invalidArgument("the crash-test child failed (exit \(process.terminationStatus)): \(message)")
        }
        return outcome
    }

    /// Runs the child (from an empty store, with `layout`'s workers) until a worker acknowledges
    /// trace position `killAt` (or later), kills it, reopens the store with `open` and verifies it.
    public func run(killAt: Int, layout: WorkerLayout = .threads(1), open: () throws -> any Store) throws -> Outcome {
        let child = try Self.runChild(executable: executable, arguments: childArguments, from: ReplayFrontier(layout: layout),
                                      rule: .afterAcknowledging(killAt))
        let start = MonotonicClock.now()
        let store = try open()
        let openSeconds = MonotonicClock.seconds(since: start)
        defer { try? store.close() }
        let verdict = try verify(store, acknowledged: child.frontier)
        // A state equal to no prefix of the commits counts with the partial batches.
        return Outcome(acknowledged: child.frontier, killed: child.killed, openSeconds: openSeconds,
                       lostCommits: verdict.lostCommits, partialBatch: verdict.partialBatch || verdict.wrongState)
    }

    /// How a recovered store compares with the trace.
    public struct Verdict: Equatable, Sendable {
        public var lostCommits: Int
        public var partialBatch: Bool
        /// The state the store turned out to hold, to continue from: the acknowledged frontier,
        /// moved past each commit in flight that turned out durable.
        public var frontier: ReplayFrontier
        /// Commits in flight (at most one per worker) found applied, and found not applied.
        public var inFlightApplied = 0
        public var inFlightNotApplied = 0
        /// The store equals no prefix of the commits (something partial or never written), or its
        /// `get` and `scan` disagree.
        public var wrongState = false
        /// Keys on which `get` and `scan` disagree.
        public var getScanDisagreements = 0
        /// Acknowledged commits past the durability horizon that the store does not hold (allowed
        /// under `interval` and `none`).
        public var unsyncedLost = 0
        /// The commits (one writer) the recovered store holds.
        public var recoveredCommits: Int?
        /// For a wrong state, the first keys that differ from the closest prefix.
        public var detail = ""
        /// Whether the store is in a state the checks accept.
        public var passed: Bool { lostCommits == 0 && !partialBatch && !wrongState }
    }

    /// Compares `store` with the trace. With one writer the recovered state must equal the state
    /// after some prefix of the commits that includes every commit acknowledged before `horizon`
    /// (the last completed sync; nil: every acknowledged commit) and at most the one in flight;
    /// lost commits are counted as commits. With several writers (durability `always` only) each
    /// worker's acknowledged commits must be there and its commit in flight whole or absent; lost
    /// commits are then counted as keys.
    public func verify(_ store: any Store, acknowledged frontier: ReplayFrontier, horizon: ReplayFrontier? = nil) throws -> Verdict {
        if frontier.positions.count == 1 {
            return try PrefixOracle(tracePath: tracePath, synthesizer: synthesizer)
                .verify(store, acknowledged: frontier.positions[0], horizon: min(horizon?.positions[0] ?? .max, frontier.positions[0]))
        }
        if let horizon, horizon != frontier {
            throw StoreError.invalidArgument("several writers are checked only with durability `always` (every acknowledged commit durable)")
        }
        return try verifyPerKey(store, acknowledged: frontier)
    }

    /// One write commit of the trace: a single write, or a batch from `begin` to `commit`.
    private struct Commit {
        var writes: [(operation: WorkloadOperation, position: Int)] = []
        /// Trace position just after the commit's last record.
        var end = 0
        var keys: [[UInt8]] { writes.map(\.operation.key) }
    }

    /// Compares `store` with the state the trace reaches at `frontier` (per worker, every commit
    /// it acknowledged), allowing each worker's next write commit (in flight at the kill) to be
    /// there whole or not at all.
    func verifyPerKey(_ store: any Store, acknowledged frontier: ReplayFrontier) throws -> Verdict {
        var reader = try TraceReader(path: tracePath)
        var model = StateModel()
        var operation = WorkloadOperation(.get)
        var inFlight: [Int: Commit] = [:]
        let writers = Set((0..<frontier.positions.count).filter { worker in
            if case let .roles(_, writerCount) = frontier.layout { return worker < writerCount }
            return true
        })
        var position = 0
        var pending: Commit?
        func settle(_ commit: Commit) {
            let worker = frontier.writer(of: commit.keys)
            if commit.end <= frontier.positions[worker] {
                for (write, at) in commit.writes { model.apply(write, at: at) }
            } else if inFlight[worker] == nil {
                inFlight[worker] = commit
            }
        }
        // Reads the trace until every writer has its commit in flight (or the trace ends).
        while inFlight.count < writers.count, try reader.next(into: &operation) {
            defer { position += 1 }
            switch operation.kind {
            case .begin:
                pending = Commit()
            case .commit:
                if var batch = pending {
                    batch.end = position + 1
                    if !batch.writes.isEmpty { settle(batch) }
                }
                pending = nil
            case .put, .delete, .readModifyWrite:
                if pending != nil {
                    pending!.writes.append((operation, position))
                } else {
                    settle(Commit(writes: [(operation, position)], end: position + 1))
                }
            case .get, .scan:
                break
            }
        }

        // For each key, the commits in flight that write it, in trace order: after a crash the
        // key holds the model's value with some prefix of them applied (later ones on a key
        // wait for earlier ones, even across workers).
        let flights = inFlight.sorted { $0.value.end < $1.value.end }
        var touching: [[UInt8]: [Int]] = [:]
        for (index, flight) in flights.enumerated() {
            for key in flight.value.keys where touching[key]?.last != index { touching[key, default: []].append(index) }
        }
        var applied = [Bool](repeating: false, count: flights.count)
        var notApplied = [Bool](repeating: false, count: flights.count)
        var remaining = model.entries
        var lost = 0
        var expected: [UInt8] = []
        func matches(_ value: StateModel.Value?, _ key: [UInt8], _ actual: UnsafeRawBufferPointer?) -> Bool {
            guard let value else { return actual == nil }
            guard let actual else { return false }
            StateModel.bytes(value, key: key, synthesizer: synthesizer, into: &expected)
            return expected.count == actual.count && expected.withUnsafeBytes { memcmp($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, actual.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, actual.count) == 0 }
        }
        func judge(_ key: [UInt8], _ actual: UnsafeRawBufferPointer?) {
            guard let indices = touching[key] else {
                if !matches(model.entries[key], key, actual) { lost += 1 }
                return
            }
            // Candidate states: the model's value, then each in-flight commit on the key applied.
            var candidates: [StateModel.Value?] = [model.entries[key]]
            var state = StateModel()
            state.entries[key] = model.entries[key]
            for index in indices {
                for (write, at) in flights[index].value.writes where write.key == key { state.apply(write, at: at) }
                candidates.append(state.entries[key])
            }
            let matching = candidates.indices.filter { matches(candidates[$0], key, actual) }
            guard let first = matching.first, let last = matching.last else {
                lost += 1
                return
            }
            // Commits every matching state has applied are evidence of applied; those none has,
            // of not applied (a commit that leaves the key unchanged is evidence of neither).
            for (offset, index) in indices.enumerated() {
                if offset < first { applied[index] = true } else if offset >= last { notApplied[index] = true }
            }
        }
        try store.scan(from: [], limit: Int.max) { key, value in
            let key = Array(key)
            remaining[key] = nil
            judge(key, value)
        }
        for key in remaining.keys { judge(key, nil) }
        for key in touching.keys where model.entries[key] == nil {
            if try store.get(key) == nil { judge(key, nil) }
        }
        var verdict = Verdict(lostCommits: lost, partialBatch: false, frontier: frontier)
        verdict.frontier.alignReaders()
        for (index, flight) in flights.enumerated() {
            if applied[index] && notApplied[index] { verdict.partialBatch = true }
            if applied[index] {
                verdict.inFlightApplied += 1
                verdict.frontier.advance(worker: flight.key, to: flight.value.end)
            } else if notApplied[index] {
                verdict.inFlightNotApplied += 1
            }
        }
        return verdict
    }
}

extension Acknowledgement {
    /// Reserved worker numbers of messages that acknowledge no commit: the child's open (and
    /// recovery) finished; a completed `sync()` covered everything acknowledged before `position`.
    public static let openedWorker = 0x7FFF
    public static let syncedWorker = 0x7FFE
}
