import Foundation
import StoreCore
import Synchronization
import Workload

/// The child side of a crash test: replays a trace at full speed and, after every write commit
/// the store has acknowledged, writes the trace position reached (8 bytes, little-endian) to a
/// pipe, so the parent knows exactly which commits were acknowledged when it kills the process.
/// The top bit of an acknowledgement is set when the store was doing maintenance work just then.
public enum CrashChild {
    public static let maintenanceFlag: UInt64 = 1 << 63

    /// - Parameter start: trace position to continue from (the store already holds the records
    ///   before it).
    public static func run(store: any Store, tracePath: String, synthesizer: ValueSynthesizer, start: Int = 0, acknowledgeTo descriptor: Int32) throws {
        // Maintenance that runs inside a write (a stop-the-world compaction) sends no
        // acknowledgement while it runs: a watcher reports its start, repeating the last
        // acknowledged position with the flag set, so the parent can kill in the middle of it.
        let acknowledged = Atomic<Int>(start)
        let metrics = store.metrics
        var wasRunning = false
        let watcher = MaintenanceThread(period: 1) {
            let running = metrics.isMaintenanceRunning
            if running && !wasRunning { acknowledge(acknowledged.load(ordering: .acquiring), maintenance: true, to: descriptor) }
            wasRunning = running
        }
        defer { watcher.stop() }
        try replayCommits(store: store, tracePath: tracePath, synthesizer: synthesizer, from: start) { position in
            acknowledged.store(position, ordering: .releasing)
            guard acknowledge(position, maintenance: metrics.isMaintenanceRunning, to: descriptor) else {
                throw StoreError.io(call: "write", errno: errno, path: "acknowledgement pipe")
            }
        }
        watcher.stop()
        try store.close()
    }

    /// Replays the trace on `store` from position `start` (the store already holds the records
    /// before it) until position `limit` or the end, calling `acknowledged` with the position
    /// reached after every write commit the store acknowledged. Shared by the killed child and
    /// the in-process fault cycles.
    static func replayCommits(
        store: any Store, tracePath: String, synthesizer: ValueSynthesizer, from start: Int, until limit: Int = .max,
        acknowledged: (Int) throws -> Void
    ) throws {
        var reader = try TraceReader(path: tracePath)
        var operation = WorkloadOperation(.get)
        for _ in 0..<start where try !reader.next(into: &operation) { break }
        var replayer = Replayer(store: store, synthesizer: synthesizer, startingAt: start)
        while replayer.position < limit, try reader.next(into: &operation) {
            guard case let .completed(_, isWrite, _, _) = try replayer.execute(operation, start: 0, mark: 0), isWrite else { continue }
            try acknowledged(replayer.position)
        }
    }

    /// Writes one acknowledgement (8 bytes: a pipe write this small is atomic, so two threads may
    /// send them).
    @discardableResult
    static func acknowledge(_ position: Int, maintenance: Bool, to descriptor: Int32) -> Bool {
        var value = (UInt64(position) | (maintenance ? maintenanceFlag : 0)).littleEndian
        return withUnsafeBytes(of: &value) { write(descriptor, $0.baseAddress, 8) } == 8
    }
}

/// The parent side: starts the child, kills it with SIGKILL once it has acknowledged the commit
/// at a chosen trace position, reopens the store (timing the open) and checks it against a model
/// of the trace: every acknowledged commit must be there, the one commit in flight may be there
/// whole or not at all, and nothing else may be.
public struct CrashCheck {
    public struct Outcome: Sendable {
        /// Trace position the last acknowledged commit reached.
        public var acknowledged: Int
        /// Whether the child was killed (it may finish first when the kill point is past the end).
        public var killed: Bool
        public var openSeconds: Double
        /// Keys whose acknowledged value is missing or wrong after recovery.
        public var lostCommits: Int
        /// The in-flight batch was found partly applied.
        public var partialBatch: Bool
        /// Whether the commit in flight at the kill turned out to be durable.
        public var inFlightApplied: Bool?
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
        /// Once it has acknowledged this trace position (or a later one).
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
        /// Trace position of the last acknowledgement, if any arrived.
        public var acknowledged: Int?
        public var killed: Bool
        /// The kill came right after an acknowledgement sent during maintenance.
        public var duringMaintenance: Bool
    }

    /// Starts `executable arguments…`, reads its acknowledgements and kills it by `rule`.
    public static func runChild(executable: String, arguments: [String], rule: KillRule) throws -> ChildOutcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let acknowledgements = Pipe()
        let errors = Pipe()
        process.standardOutput = acknowledgements
        process.standardError = errors
        try process.run()
        var outcome = ChildOutcome(acknowledged: nil, killed: false, duringMaintenance: false)
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
            var sawMaintenance = false
            for offset in stride(from: 0, to: whole, by: 8) {
                let value = partial.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
                // The maintenance watcher may send a position read just before a newer one was
                // acknowledged: keep the highest.
                outcome.acknowledged = max(outcome.acknowledged ?? 0, Int(value & ~CrashChild.maintenanceFlag))
                sawMaintenance = value & CrashChild.maintenanceFlag != 0
                if !outcome.killed, let position = outcome.acknowledged {
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

    /// Runs the child until it acknowledges trace position `killAt` (or later), kills it, reopens
    /// the store with `open` and verifies it.
    public func run(killAt: Int, open: () throws -> any Store) throws -> Outcome {
        let child = try Self.runChild(executable: executable, arguments: childArguments, rule: .afterAcknowledging(killAt))
        let acknowledged = child.acknowledged ?? 0
        let start = MonotonicClock.now()
        let store = try open()
        let openSeconds = MonotonicClock.seconds(since: start)
        defer { try? store.close() }
        let verdict = try verify(store, acknowledged: acknowledged)
        return Outcome(
            acknowledged: acknowledged, killed: child.killed, openSeconds: openSeconds, lostCommits: verdict.lostCommits,
            partialBatch: verdict.partialBatch, inFlightApplied: verdict.inFlightApplied)
    }

    /// How a recovered store compares with the trace.
    public struct Verdict: Equatable, Sendable {
        public var lostCommits: Int
        public var partialBatch: Bool
        public var inFlightApplied: Bool?
        /// Trace position just after the commit that was in flight.
        public var inFlightEnd: Int = 0
    }

    /// Compares `store` with the state after the first `acknowledged` trace records, allowing the
    /// next write commit (in flight at the kill) to be there whole or not at all.
    public func verify(_ store: any Store, acknowledged: Int) throws -> Verdict {
        // The model at the last acknowledged position, and the write commit that was in flight.
        var reader = try TraceReader(path: tracePath)
        var model = StateModel()
        var operation = WorkloadOperation(.get)
        var position = 0
        while position < acknowledged, try reader.next(into: &operation) {
            model.apply(operation, at: position)
            position += 1
        }
        var inFlight: [(WorkloadOperation, Int)] = []
        var inBatch = false
        while try reader.next(into: &operation) {
            switch operation.kind {
            case .begin: inBatch = true
            case .commit: inBatch = false
            case .put, .delete, .readModifyWrite: inFlight.append((operation, position))
            case .get, .scan: break
            }
            position += 1
            if !inBatch && !inFlight.isEmpty { break }
        }
        var after = model
        for (operation, at) in inFlight { after.apply(operation, at: at) }
        let inFlightKeys = Set(inFlight.map(\.0.key))

        var remaining = model.entries
        var lost = 0
        var appliedEvidence = false
        var notAppliedEvidence = false
        var expected: [UInt8] = []
        func matches(_ value: StateModel.Value?, _ key: [UInt8], _ actual: UnsafeRawBufferPointer?) -> Bool {
            guard let value else { return actual == nil }
            guard let actual else { return false }
            StateModel.bytes(value, key: key, synthesizer: synthesizer, into: &expected)
            return expected.count == actual.count && expected.withUnsafeBytes { memcmp($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, actual.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, actual.count) == 0 }
        }
        func judge(_ key: [UInt8], _ actual: UnsafeRawBufferPointer?) {
            let before = model.entries[key]
            let beforeMatches = matches(before, key, actual)
            guard inFlightKeys.contains(key) else {
                if !beforeMatches { lost += 1 }
                return
            }
            let afterMatches = matches(after.entries[key], key, actual)
            if beforeMatches && afterMatches { return }
            if afterMatches { appliedEvidence = true } else if beforeMatches { notAppliedEvidence = true } else { lost += 1 }
        }
        try store.scan(from: [], limit: Int.max) { key, value in
            let key = Array(key)
            remaining[key] = nil
            judge(key, value)
        }
        for key in remaining.keys { judge(key, nil) }
        for key in inFlightKeys where model.entries[key] == nil {
            if try store.get(key) == nil { judge(key, nil) }
        }
        return Verdict(
            lostCommits: lost, partialBatch: appliedEvidence && notAppliedEvidence,
            inFlightApplied: appliedEvidence ? true : (notAppliedEvidence ? false : nil), inFlightEnd: position)
    }
}
