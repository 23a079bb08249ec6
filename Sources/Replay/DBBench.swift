#if canImport(Glibc)
import Glibc
#endif
import ProcessMemory
import StoreCore
import Synchronization
import Workload

/// db_bench-style phases run against one store, with the same meanings as RocksDB's `db_bench`
/// so that figures compare one to one: keys are numbers in `0..<num`, 8 bytes big-endian padded
/// with zeros to the key size; `fillrandom` and `readrandom` draw key numbers uniformly *with*
/// replacement, as db_bench does.
///
/// Every read is checked against a model of what was written (present or absent, and the exact
/// value bytes), so a benchmark never reports the speed of an engine that returns wrong data.
public struct DBBench {
    public enum Phase: Equatable, Sendable, CustomStringConvertible {
        case fillseq, fillrandom, overwrite, readrandom, readseq, seekrandom, deleterandom, compact
        /// db_bench's `readwhilewriting`: `threads` threads read random keys while one more thread
        /// overwrites random keys until they are done; the figure is the reads'.
        case readwhilewriting
        /// Close and reopen the store, optionally with changed engine settings; measures open time
        /// and the memory the reopened store holds (through jemalloc). `cold`: first drop the
        /// store's files from the page cache, as after a restart.
        case reopen(settings: [String: String], cold: Bool)
        /// `overwrite:n=COUNT`: COUNT random overwrites (a phase of its own size, e.g. to leave a
        /// known amount of unflushed WAL before `reopen-crash`).
        case overwriteCount(Int)
        /// Abandon the store as a killed process would (no flush, no sync, no close: what was
        /// written stays in the page cache) and reopen it; measures crash recovery. Engines that
        /// cannot simulate this (`CrashSimulating`) are reopened after a normal close.
        case reopenAfterCrash

        /// The phases one word names, in the order help lists them.
        static let named: [(name: String, phase: Phase)] = [
            ("fillseq", .fillseq), ("fillrandom", .fillrandom), ("overwrite", .overwrite), ("readrandom", .readrandom),
            ("readseq", .readseq), ("readwhilewriting", .readwhilewriting), ("seekrandom", .seekrandom),
            ("deleterandom", .deleterandom), ("compact", .compact), ("reopen-crash", .reopenAfterCrash),
        ]

        public static let names = named.map(\.name) + ["reopen[:name=value,...]", "reopen-cold[:name=value,...]", "overwrite:n=COUNT"]

        /// Parses `fillrandom`, `overwrite:n=1000` or `reopen:use_hints=false,segment_size=1MiB`.
        public init(parsing text: String) throws(StoreError) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            let name = parts.first ?? ""
            let argument = parts.count > 1 ? parts[1] : nil
            if argument == nil, let entry = Self.named.first(where: { $0.name == name }) {
                self = entry.phase
                return
            }
            switch name {
            case "overwrite":
                guard let argument, argument.hasPrefix("n="), let count = Int(argument.dropFirst(2)), count > 0 else {
                    throw .invalidArgument("`\(text)`: expected overwrite:n=COUNT")
                }
                self = .overwriteCount(count)
            case "reopen", "reopen-cold":
                var settings: [String: String] = [:]
                for pair in (argument ?? "").split(separator: ",") {
                    let nameValue = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard nameValue.count == 2 else { throw .invalidArgument("`\(pair)` in `\(text)` is not name=value") }
                    settings[nameValue[0]] = nameValue[1]
                }
                self = .reopen(settings: settings, cold: name == "reopen-cold")
            default:
                throw .invalidArgument("unknown benchmark `\(text)` (known: \(Self.names.joined(separator: ", ")))")
            }
        }

        public var description: String {
            if let entry = Self.named.first(where: { $0.phase == self }) { return entry.name }
            switch self {
            case let .overwriteCount(count): return "overwrite:n=\(count)"
            case let .reopen(settings, cold):
                return (cold ? "reopen-cold" : "reopen") + (settings.isEmpty ? "" : ":")
                    + settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            default: return "?"
            }
        }
    }

    public struct Configuration: Sendable {
        public var num: Int
        public var keySize: Int
        public var valueSize: Int
        /// Entries each `seekrandom` reads after its seek.
        public var seekNexts: Int
        /// Puts per commit in the fill phases (one `WriteBatch` each when above 1).
        public var batchSize: Int
        public var seed: UInt64
        /// Threads that share each phase's operations (db_bench's `--threads`, except that the
        /// phase's total stays `num`: see `run`).
        public var threads: Int

        public init(num: Int, keySize: Int = 16, valueSize: Int = 100, seekNexts: Int = 10, batchSize: Int = 1,
                    seed: UInt64 = 1, threads: Int = 1) {
            self.num = num
            self.batchSize = max(1, batchSize)
            self.keySize = keySize
            self.valueSize = valueSize
            self.seekNexts = seekNexts
            self.seed = seed
            self.threads = max(1, threads)
        }
    }

    /// One measured phase.
    public struct Result: Sendable {
        public var phase: String
        public var operations: Int
        public var seconds: Double
        /// Reads that found their key (reads only).
        public var found: Int?
        /// For `reopen`: jemalloc bytes the reopened store holds, per live key.
        public var bytesPerKey: Double?
        /// Threads that ran the phase.
        public var threads = 1
        /// Write commits the phase made (a batch is one), and the syncs the engine counted
        /// meanwhile (`nil` for an engine whose library syncs on its own, uncounted).
        public var commits: Int?
        public var syncs: Int?
        public var opsPerSecond: Double { seconds > 0 ? Double(operations) / seconds : 0 }
        public var microsecondsPerOp: Double { operations > 0 ? seconds * 1e6 / Double(operations) : 0 }
        /// What else ran meanwhile (`readwhilewriting`: the writer's overwrites).
        public var note: String?
        /// Syncs per write commit: below 1 when commits share syncs (group commit).
        public var syncsPerCommit: Double? {
            guard let commits, commits > 0, let syncs else { return nil }
            return Double(syncs) / Double(commits)
        }
    }

    /// Everything a run measured: the phases, and the store's own figures at the end. Metrics and
    /// events add up over every instance the run opened (a `reopen` starts a new instance).
    public struct Outcome: Sendable {
        public var results: [Result]
        public var statistics: StoreStatistics
        public var metrics: StoreMetrics.Snapshot
        public var events: [MaintenanceEvent]
        public var allocator: ProcessMemory.AllocatorStatistics?
        /// Whether `metrics` and `events` are the engine's own counts. A reference engine's
        /// library writes, syncs and compacts without telling: its write amplification, fsyncs
        /// and maintenance are unknown, not zero.
        public var countsEngineInternals = true
    }

    public let configuration: Configuration
    /// One generator per thread; thread 0's is the one a single-threaded run has always used.
    var randoms: [SeededRandom]
    /// Value version per key number; 0 = absent. A value is a window into `pool` chosen by
    /// (key number, version), so reads can be checked byte for byte without storing values.
    var versions: [UInt8]
    let pool: [UInt8]

    public init(_ configuration: Configuration) throws(StoreError) {
        guard configuration.num > 0 else { throw .invalidArgument("--num must be positive") }
        guard configuration.keySize >= 8 else { throw .invalidArgument("key size must be at least 8 bytes to hold the key number") }
        try StoreLimits.check(keySize: configuration.keySize)
        try StoreLimits.check(valueSize: configuration.valueSize)
        self.configuration = configuration
        randoms = (0..<configuration.threads).map { SeededRandom(seed: configuration.seed, stream: $0) }
        versions = [UInt8](repeating: 0, count: configuration.num)
        pool = randoms[0].bytes(configuration.valueSize + 4096)
    }

    @inline(__always)
    static func valueStart(_ number: Int, _ version: UInt8) -> Int {
        (number &* 31 &+ Int(version) &* 17) & 4095
    }

    /// Runs `phases` in order. `open` (re)opens the store with extra engine settings.
    ///
    /// With `threads` above 1, each data phase's operations are shared among that many threads
    /// (the total stays what one thread does, so every thread count leaves a store of the same
    /// size and figures compare directly). Writers own disjoint key numbers — thread t of N
    /// writes the numbers ≡ t (mod N), `fillseq` a contiguous range — so the model of what was
    /// written stays exact and every read is still checked; readers draw from every key.
    /// - Parameters:
    ///   - persistent: whether the engine keeps data across a reopen; for one that does not, a
    ///     `reopen` empties the model too.
    ///   - countsSyncs: whether the engine's metrics count its syncs (reference engines' libraries
    ///     sync on their own).
    ///   - dropCachedPages: evicts the closed store's files from the page cache (`reopen-cold`).
    public mutating func run(
        _ phases: [Phase], persistent: Bool, countsSyncs: Bool = true, dropCachedPages: () throws -> Void,
        open: (_ settings: [String: String]) throws -> any Store
    ) throws -> Outcome {
        var store = try open([:])
        var closed = false
        defer { if !closed { try? store.close() } }
        var results: [Result] = []
        var metrics = StoreMetrics.Snapshot()
        var events: [MaintenanceEvent] = []
        let num = configuration.num
        let engine = store.engineName

        for phase in phases {
            switch phase {
            case .fillseq, .fillrandom, .overwrite, .overwriteCount, .readrandom, .readseq, .seekrandom, .deleterandom:
                let syncsBefore = store.metrics.snapshot().syncs
                let start = MonotonicClock.now()
                let tally = try runShared(phase, on: store, engine: engine)
                var result = Result(phase: phase.description, operations: tally.operations,
                                    seconds: MonotonicClock.seconds(since: start), found: tally.found)
                result.threads = configuration.threads
                if tally.commits > 0 {
                    result.commits = tally.commits
                    result.syncs = countsSyncs ? store.metrics.snapshot().syncs - syncsBefore : nil
                }
                results.append(result)
            case .readwhilewriting:
                results.append(try readWhileWriting(on: store, engine: engine))
            case .compact:
                let start = MonotonicClock.now()
                try store.compact()
                results.append(Result(phase: phase.description, operations: 1, seconds: MonotonicClock.seconds(since: start)))
            case .reopenAfterCrash:
                guard let crashable = store as? CrashSimulating else {
                    throw StoreError.unsupported("`\(engine)` cannot simulate a crash in-process (reopen-crash)")
                }
                metrics = metrics + store.metrics.snapshot()
                events += store.metrics.events()
                crashable.simulateCrash()
                let reopenStart = MonotonicClock.now()
                store = try open([:])
                results.append(Result(phase: phase.description, operations: 1, seconds: MonotonicClock.seconds(since: reopenStart)))
            case let .reopen(settings, cold):
                // Closing is work too (a final sync, hints): count it before reading the counters.
                try store.close()
                metrics = metrics + store.metrics.snapshot()
                events += store.metrics.events()
                if cold { try dropCachedPages() }
                let before = ProcessMemory.allocator()?.allocated
                let reopenStart = MonotonicClock.now()
                store = try open(settings)
                let seconds = MonotonicClock.seconds(since: reopenStart)
                if !persistent { versions = [UInt8](repeating: 0, count: num) }
                var bytesPerKey: Double?
                if let before, let after = ProcessMemory.allocator()?.allocated,
                   let keys = try store.statistics().keyCount, keys > 0 {
                    bytesPerKey = Double(after - before) / Double(keys)
                }
                results.append(Result(phase: phase.description, operations: 1, seconds: seconds, bytesPerKey: bytesPerKey))
            }
        }
        let statistics = try store.statistics()
        let allocator = ProcessMemory.allocator()
        closed = true
        try store.close()
        metrics = metrics + store.metrics.snapshot()
        events += store.metrics.events()
        return Outcome(results: results, statistics: statistics, metrics: metrics, events: events, allocator: allocator, countsEngineInternals: countsSyncs)
    }

    /// What the threads of one phase did, added up.
    struct Tally {
        var operations = 0
        var found: Int?
        var commits = 0
    }

    /// Runs a data phase on `configuration.threads` threads (inline on this one when it is 1).
    mutating func runShared(_ phase: Phase, on store: any Store, engine: String) throws -> Tally {
        let threads = configuration.threads
        let workers = (0..<threads).map { PhaseWorker(thread: $0, random: randoms[$0], keySize: configuration.keySize) }
        let context = PhaseContext(configuration: configuration, phase: phase, store: store, engine: engine, pool: pool)
        try versions.withUnsafeMutableBufferPointer { versions in
            let shared = SharedVersions(versions)
            if threads == 1 {
                try workers[0].run(context, versions: shared)
            } else {
                try ConcurrentThreads.run(threads) { thread in
                    do {
                        try workers[thread].run(context, versions: shared)
                    } catch {
                        context.stop()
                        throw error
                    }
                }
            }
        }
        var tally = Tally()
        for worker in workers {
            randoms[worker.thread] = worker.random
            tally.operations += worker.operations
            tally.commits += worker.commits
            if let found = worker.found { tally.found = (tally.found ?? 0) + found }
        }
        return tally
    }

    /// Throws unless `value` is exactly the bytes written for key `number` at `version`.
    static func check(_ number: Int, _ value: UnsafeRawBufferPointer, version: UInt8, size: Int, pool: [UInt8]) throws {
        let from = valueStart(number, version)
        let matches = value.count == size && (size == 0 || pool.withUnsafeBytes { pool in
            memcmp(pool.baseAddress! + from, value.baseAddress!, size) == 0
        })
        if !matches {
            throw StoreError.corrupted(file: "read check", offset: Int64(number),
                                       reason: "key #\(number) returned \(value.count) bytes that differ from what was written")
        }
    }
}
