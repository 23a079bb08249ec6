import MemoryStore
import StoreCore
import Workload

/// One step of a stress sequence: an operation on the store, or something done to the store.
public enum StressStep: Sendable, Equatable, CustomStringConvertible {
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])
    case batch([WriteBatch.Operation])
    case get(key: [UInt8])
    case scan(from: [UInt8], limit: Int)
    case sync
    case compact
    /// Close and open again.
    case reopen
    /// Abandon the store as a killed process would (`CrashSimulating`), then open again.
    case crash

    public var description: String {
        func hex(_ bytes: [UInt8]) -> String {
            bytes.isEmpty ? "\"\"" : bytes.prefix(12).map { String($0, radix: 16).leftPadded(2) }.joined() + (bytes.count > 12 ? "…" : "")
        }
        switch self {
        case let .put(key, value): return "put \(hex(key)) (\(value.count) bytes)"
        case let .delete(key): return "delete \(hex(key))"
        case let .batch(operations): return "batch of \(operations.count)"
        case let .get(key): return "get \(hex(key))"
        case let .scan(start, limit): return "scan from \(hex(start)) limit \(limit)"
        case .sync: return "sync"
        case .compact: return "compact"
        case .reopen: return "reopen"
        case .crash: return "crash"
        }
    }

    /// Steps that change nothing an oracle holds (the store must still agree afterwards).
    var isMaintenance: Bool {
        switch self {
        case .sync, .compact, .reopen, .crash: true
        default: false
        }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// A differential tester (`storebench stress`): seeded random sequences of puts, deletes,
/// batches, gets, scans, syncs, compactions, reopens and crashes applied to an engine and to the
/// `memory` oracle, compared after every step and in full every few hundred steps and after every
/// reopen or crash. A mismatch is shrunk — steps removed while it still fails — to a short
/// sequence that reproduces it.
public struct StressTest {
    /// What a sequence did on the engine.
    public struct Mismatch: Error, Sendable, CustomStringConvertible {
        /// Index of the failing step.
        public var step: Int
        public var reason: String
        public var description: String { "step \(step): \(reason)" }
        public init(step: Int, reason: String) {
            self.step = step
            self.reason = reason
        }
    }

    public let engine: EngineDescriptor
    public let options: StoreOptions
    /// Parent directory for the stores (each sequence gets a fresh one).
    public let scratch: String

    public init(engine: EngineDescriptor, options: StoreOptions, scratch: String) {
        self.engine = engine
        self.options = options
        self.scratch = scratch
    }

    /// `count` random steps from `seed`, over a small key space so overwrites and deletes hit.
    public static func steps(seed: UInt64, count: Int, persistent: Bool, maxKeySize: Int = 24) -> [StressStep] {
        var random = SeededRandom(seed: seed)
        var keyRandom = SeededRandom(seed: seed ^ 0x5EED_4E55)
        var keys: [[UInt8]] = [[]]
        while keys.count < 300 {
            let key = keyRandom.bytes(1 + keyRandom.below(max(1, min(maxKeySize, 24))))
            if !keys.contains(key) { keys.append(key) }
        }
        func key() -> [UInt8] { keys[random.below(keys.count)] }
        func value() -> [UInt8] { random.below(40) == 0 ? random.bytes(4096 + random.below(12288)) : random.bytes(random.below(200)) }
        var steps: [StressStep] = []
        steps.reserveCapacity(count)
        for _ in 0..<count {
            let draw = random.below(1000)
            switch draw {
            case 0..<250: steps.append(.get(key: key()))
            case 250..<550: steps.append(.put(key: key(), value: value()))
            case 550..<670: steps.append(.delete(key: key()))
            case 670..<800:
                var operations: [WriteBatch.Operation] = []
                for _ in 0..<(1 + random.below(8)) {
                    operations.append(random.below(4) == 0 ? .delete(key: key()) : .put(key: key(), value: value()))
                }
                steps.append(.batch(operations))
            case 800..<960: steps.append(.scan(from: random.below(8) == 0 ? [] : key(), limit: random.below(40)))
            case 960..<975: steps.append(.sync)
            case 975..<985: steps.append(.compact)
            case 985..<993: steps.append(persistent ? .reopen : .sync)
            default: steps.append(persistent ? .crash : .compact)
            }
        }
        return steps
    }

    /// Runs `steps` on a fresh store and the oracle side by side.
    /// - Returns: the first mismatch, or `nil` when the engine agreed throughout.
    public func run(_ steps: [StressStep], name: String = "stress") throws -> Mismatch? {
        let directory = scratch + "/\(engine.name)-\(name)"
        try StorageDirectory.destroy(directory, fileSystem: options.fileSystem)
        defer { try? StorageDirectory.destroy(directory, fileSystem: options.fileSystem) }
        let oracle = MemoryStore()
        var store = try engine.open(directory, options)
        var open = true
        defer { if open { try? store.close() } }
        var buffer: [UInt8] = []
        for (index, step) in steps.enumerated() {
            func mismatch(_ reason: String) -> Mismatch { Mismatch(step: index, reason: "\(step): \(reason)") }
            do {
                switch step {
                case let .put(key, value):
                    try store.put(key, value)
                    try oracle.put(key, value)
                case let .delete(key):
                    try store.delete(key)
                    try oracle.delete(key)
                case let .batch(operations):
                    let batch = WriteBatch(operations)
                    try store.apply(batch)
                    try oracle.apply(batch)
                case let .get(key):
                    let found = try store.get(key, into: &buffer)
                    let expected = try oracle.get(key)
                    if found != (expected != nil) || (found && buffer != expected!) {
                        return mismatch(found ? (expected == nil ? "found a deleted or never written key" : "returned \(buffer.count) bytes that differ from the \(expected!.count) written")
                                              : "a written key is missing")
                    }
                case let .scan(start, limit):
                    let got = try store.scan(from: start, limit: limit)
                    let want = try oracle.scan(from: start, limit: limit)
                    if let problem = Self.difference(got, want) { return mismatch(problem) }
                case .sync:
                    try store.sync()
                case .compact:
                    try store.compact()
                case .reopen:
                    open = false
                    try store.close()
                    store = try engine.open(directory, options)
                    open = true
                case .crash:
                    if let crashing = store as? CrashSimulating {
                        open = false
                        crashing.simulateCrash()
                    } else {
                        open = false
                        try store.close()
                    }
                    store = try engine.open(directory, options)
                    open = true
                }
            } catch {
                return mismatch("threw \(error)")
            }
            if step.isMaintenance || index % 256 == 255 || index == steps.count - 1 {
                let got = try store.scan(from: [], limit: .max)
                let want = try oracle.scan(from: [], limit: .max)
                if let problem = Self.difference(got, want) { return mismatch("full comparison: \(problem)") }
            }
        }
        return nil
    }

    static func difference(_ got: [(key: [UInt8], value: [UInt8])], _ want: [(key: [UInt8], value: [UInt8])]) -> String? {
        for index in 0..<max(got.count, want.count) {
            guard index < got.count else { return "\(want.count - got.count) entries missing from the end, first \(want[index].key)" }
            guard index < want.count else { return "\(got.count - want.count) entries too many at the end, first \(got[index].key)" }
            if got[index].key != want[index].key { return "entry \(index) has key \(got[index].key), expected \(want[index].key)" }
            if got[index].value != want[index].value {
                return "entry \(index) (key \(got[index].key)) holds \(got[index].value.count) bytes that differ from the \(want[index].value.count) written"
            }
        }
        return nil
    }

    /// Removes steps while the sequence still fails (ddmin-style: halves, then quarters, … then
    /// single steps), up to `budget` re-runs.
    /// - Returns: the shortest failing sequence found, and its mismatch.
    public func shrink(_ steps: [StressStep], budget: Int = 2_000) throws -> (steps: [StressStep], mismatch: Mismatch)? {
        guard var failure = try run(steps) else { return nil }
        var current = Array(steps[...failure.step])
        var runs = 0
        var chunk = max(1, current.count / 2)
        while runs < budget {
            var removedAny = false
            var start = 0
            while start < current.count && runs < budget {
                var candidate = current
                candidate.removeSubrange(start..<min(current.count, start + chunk))
                runs += 1
                if !candidate.isEmpty, let found = try run(candidate, name: "shrink") {
                    current = Array(candidate[...found.step])
                    failure = found
                    removedAny = true
                } else {
                    start += chunk
                }
            }
            if chunk == 1 && !removedAny { break }
            if !removedAny { chunk = max(1, chunk / 2) }
        }
        // Steps may have become simpler to describe: a batch of one is kept as it is (the bug may
        // be in batches).
        return (current, failure)
    }
}

/// A stress sequence as a trace file: the data steps as trace records (values explicit; a batch
/// from `begin` to `commit`), the rest (`sync`, `compact`, `reopen`, `crash`) in the header field
/// `stress_steps` as `N:kind` — done before the Nth data step. `storebench run` replays the data
/// steps; `storebench stress --replay` replays all of them.
public enum StressReproducer {
    public static func write(_ steps: [StressStep], engine: String, mismatch: String, to path: String) throws {
        var maintenance: [String] = []
        var dataSteps = 0
        for step in steps {
            switch step {
            case .sync: maintenance.append("\(dataSteps):sync")
            case .compact: maintenance.append("\(dataSteps):compact")
            case .reopen: maintenance.append("\(dataSteps):reopen")
            case .crash: maintenance.append("\(dataSteps):crash")
            default: dataSteps += 1
            }
        }
        let header = TraceHeader([("source", "stress:\(engine)"), ("created", ISO8601Time.now()), ("load_operations", "0"),
                                  ("stress_steps", maintenance.joined(separator: ",")), ("stress_mismatch", mismatch)])
        let writer = try TraceWriter(path: path, header: header)
        for step in steps {
            switch step {
            case let .put(key, value): try writer.append(WorkloadOperation(.put, key: key, value: value))
            case let .delete(key): try writer.append(WorkloadOperation(.delete, key: key))
            case let .batch(operations):
                try writer.append(WorkloadOperation(.begin))
                for operation in operations {
                    switch operation {
                    case let .put(key, value): try writer.append(WorkloadOperation(.put, key: key, value: value))
                    case let .delete(key): try writer.append(WorkloadOperation(.delete, key: key))
                    }
                }
                try writer.append(WorkloadOperation(.commit))
            case let .get(key): try writer.append(WorkloadOperation(.get, key: key))
            case let .scan(start, limit): try writer.append(WorkloadOperation(.scan, key: start, scanCount: limit))
            case .sync, .compact, .reopen, .crash: break
            }
        }
        try writer.finish()
    }

    /// The steps a reproducer file holds.
    public static func read(_ path: String) throws -> [StressStep] {
        var reader = try TraceReader(path: path)
        var maintenance: [Int: [StressStep]] = [:]
        for entry in (reader.header["stress_steps"] ?? "").split(separator: ",") {
            let parts = entry.split(separator: ":")
            guard parts.count == 2, let index = Int(parts[0]) else {
                throw WorkloadError.malformedTrace(file: path, offset: 0, reason: "stress_steps entry `\(entry)` is not N:kind")
            }
            let step: StressStep
            switch parts[1] {
            case "sync": step = .sync
            case "compact": step = .compact
            case "reopen": step = .reopen
            case "crash": step = .crash
            default: throw WorkloadError.malformedTrace(file: path, offset: 0, reason: "unknown stress step `\(parts[1])`")
            }
            maintenance[index, default: []].append(step)
        }
        var steps: [StressStep] = []
        var dataSteps = 0
        var batch: [WriteBatch.Operation]?
        var operation = WorkloadOperation(.get)
        func data(_ step: StressStep) {
            steps += maintenance[dataSteps] ?? []
            steps.append(step)
            dataSteps += 1
        }
        while try reader.next(into: &operation) {
            let value = operation.value ?? [UInt8](repeating: 0, count: operation.valueSize)
            switch operation.kind {
            case .begin: batch = []
            case .commit:
                data(.batch(batch ?? []))
                batch = nil
            case .put, .readModifyWrite:
                if batch != nil { batch!.append(.put(key: operation.key, value: value)) } else { data(.put(key: operation.key, value: value)) }
            case .delete:
                if batch != nil { batch!.append(.delete(key: operation.key)) } else { data(.delete(key: operation.key)) }
            case .get: data(.get(key: operation.key))
            case .scan: data(.scan(from: operation.key, limit: operation.scanCount))
            }
        }
        steps += maintenance[dataSteps] ?? []
        return steps
    }
}
