import Foundation
import StoreCore
import Workload

/// The child side of a crash test: replays a trace at full speed and, after every write commit
/// the store has acknowledged, writes the trace position reached (8 bytes, little-endian) to a
/// pipe, so the parent knows exactly which commits were acknowledged when it kills the process.
public enum CrashChild {
    public static func run(store: any Store, tracePath: String, synthesizer: ValueSynthesizer, acknowledgeTo descriptor: Int32) throws {
        var reader = try TraceReader(path: tracePath)
        var replayer = Replayer(store: store, synthesizer: synthesizer)
        var operation = WorkloadOperation(.get)
        while try reader.next(into: &operation) {
            guard case let .completed(_, isWrite, _, _) = try replayer.execute(operation, start: 0, mark: 0), isWrite else { continue }
            var position = UInt64(replayer.position).littleEndian
            let written = withUnsafeBytes(of: &position) { write(descriptor, $0.baseAddress, 8) }
            guard written == 8 else { throw StoreError.io(call: "write", errno: errno, path: "acknowledgement pipe") }
        }
        try store.close()
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

    /// Runs the child until it acknowledges trace position `killAt` (or later), kills it, reopens
    /// the store with `open` and verifies it.
    public func run(killAt: Int, open: () throws -> any Store) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = childArguments
        let acknowledgements = Pipe()
        let errors = Pipe()
        process.standardOutput = acknowledgements
        process.standardError = errors
        try process.run()
        let descriptor = acknowledgements.fileHandleForReading.fileDescriptor
        var acknowledged = 0
        var killed = false
        var buffer = [UInt8](repeating: 0, count: 8 * 4096)
        var partial: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            partial += buffer[0..<count]
            let whole = partial.count / 8 * 8
            if whole > 0 {
                acknowledged = partial.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: whole - 8, as: UInt64.self))) }
                partial.removeFirst(whole)
            }
            if !killed && acknowledged >= killAt {
                kill(process.processIdentifier, SIGKILL)
                killed = true
            }
        }
        process.waitUntilExit()
        let failedOnItsOwn = !killed && process.terminationStatus != 0
        if failedOnItsOwn {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw StoreError.invalidArgument("the crash-test child failed (exit \(process.terminationStatus)): \(message)")
        }

        let start = MonotonicClock.now()
        let store = try open()
        let openSeconds = MonotonicClock.seconds(since: start)
        defer { try? store.close() }
        let verdict = try verify(store, acknowledged: acknowledged)
        return Outcome(
            acknowledged: acknowledged, killed: killed, openSeconds: openSeconds, lostCommits: verdict.lostCommits,
            partialBatch: verdict.partialBatch, inFlightApplied: verdict.inFlightApplied)
    }

    /// How a recovered store compares with the trace.
    public struct Verdict: Equatable, Sendable {
        public var lostCommits: Int
        public var partialBatch: Bool
        public var inFlightApplied: Bool?
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
            inFlightApplied: appliedEvidence ? true : (notAppliedEvidence ? false : nil))
    }
}
