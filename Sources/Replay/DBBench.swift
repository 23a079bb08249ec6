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

        public static let names = ["fillseq", "fillrandom", "overwrite", "readrandom", "readseq",
                                   "seekrandom", "deleterandom", "compact", "reopen[:name=value,...]",
                                   "reopen-cold[:name=value,...]", "overwrite:n=COUNT", "reopen-crash"]

        /// Parses `fillrandom` or `reopen:use_hints=false,segment_size=1MiB`.
        public init(parsing text: String) throws(StoreError) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            switch parts.first ?? "" {
            case "fillseq": self = .fillseq
            case "fillrandom": self = .fillrandom
            case "overwrite" where parts.count > 1:
                guard parts[1].hasPrefix("n="), let count = Int(parts[1].dropFirst(2)), count > 0 else {
                    throw .invalidArgument("`\(text)`: expected overwrite:n=COUNT")
                }
                self = .overwriteCount(count)
            case "overwrite": self = .overwrite
            case "reopen-crash": self = .reopenAfterCrash
            case "readrandom": self = .readrandom
            case "readseq": self = .readseq
            case "seekrandom": self = .seekrandom
            case "deleterandom": self = .deleterandom
            case "compact": self = .compact
            case "reopen", "reopen-cold":
                var settings: [String: String] = [:]
                for pair in (parts.count > 1 ? parts[1] : "").split(separator: ",") {
                    let nameValue = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard nameValue.count == 2 else { throw .invalidArgument("`\(pair)` in `\(text)` is not name=value") }
                    settings[nameValue[0]] = nameValue[1]
                }
                self = .reopen(settings: settings, cold: parts[0] == "reopen-cold")
            default:
                throw .invalidArgument("unknown benchmark `\(text)` (known: \(Self.names.joined(separator: ", ")))")
            }
        }

        public var description: String {
            switch self {
            case .fillseq: "fillseq"
            case .fillrandom: "fillrandom"
            case .overwrite: "overwrite"
            case .readrandom: "readrandom"
            case .readseq: "readseq"
            case .seekrandom: "seekrandom"
            case .deleterandom: "deleterandom"
            case .compact: "compact"
            case let .overwriteCount(count): "overwrite:n=\(count)"
            case .reopenAfterCrash: "reopen-crash"
            case let .reopen(settings, cold):
                (cold ? "reopen-cold" : "reopen") + (settings.isEmpty ? "" : ":") + settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
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
    }

    public let configuration: Configuration
    /// One generator per thread; thread 0's is the one a single-threaded run has always used.
    private var randoms: [SeededRandom]
    /// Value version per key number; 0 = absent. A value is a window into `pool` chosen by
    /// (key number, version), so reads can be checked byte for byte without storing values.
    private var versions: [UInt8]
    private let pool: [UInt8]

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
    private static func valueStart(_ number: Int, _ version: UInt8) -> Int {
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
        return Outcome(results: results, statistics: statistics, metrics: metrics, events: events, allocator: allocator)
    }

    /// What the threads of one phase did, added up.
    private struct Tally {
        var operations = 0
        var found: Int?
        var commits = 0
    }

    /// Runs a data phase on `configuration.threads` threads (inline on this one when it is 1).
    private mutating func runShared(_ phase: Phase, on store: any Store, engine: String) throws -> Tally {
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

    /// The parts of a phase every thread reads.
    private final class PhaseContext: Sendable {
        let configuration: Configuration
        let phase: Phase
        let store: any Store
        let engine: String
        let pool: [UInt8]
        /// Set when a thread failed: the others stop early instead of finishing the phase.
        private let stopped = Atomic<Bool>(false)

        init(configuration: Configuration, phase: Phase, store: any Store, engine: String, pool: [UInt8]) {
            self.configuration = configuration
            self.phase = phase
            self.store = store
            self.engine = engine
            self.pool = pool
        }

        func stop() { stopped.store(true, ordering: .relaxed) }
        var isStopped: Bool { stopped.load(ordering: .relaxed) }
    }

    /// The version table, shared by the threads of a phase. Threads write only the key numbers
    /// they own, and no phase reads while another thread writes, so no two threads touch one
    /// element at once.
    private struct SharedVersions: @unchecked Sendable {
        let base: UnsafeMutablePointer<UInt8>
        init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { base = buffer.baseAddress! }
        subscript(number: Int) -> UInt8 {
            get { base[number] }
            nonmutating set { base[number] = newValue }
        }
    }

    /// One thread's state in a phase: its generator, buffers and counts.
    private final class PhaseWorker: @unchecked Sendable {
        let thread: Int
        var random: SeededRandom
        var key: [UInt8]
        var value: [UInt8] = []
        var readBuffer: [UInt8] = []
        var operations = 0
        var found: Int?
        var commits = 0

        init(thread: Int, random: SeededRandom, keySize: Int) {
            self.thread = thread
            self.random = random
            key = [UInt8](repeating: 0, count: keySize)
        }

        /// This thread's share of `total` operations.
        private func share(_ total: Int, threads: Int) -> Int {
            total / threads + (thread < total % threads ? 1 : 0)
        }

        func run(_ context: PhaseContext, versions: SharedVersions) throws {
            let configuration = context.configuration
            let threads = configuration.threads
            let num = configuration.num
            let store = context.store
            let engine = context.engine
            func mismatch(_ number: Int, _ what: String) -> StoreError {
                .corrupted(file: engine, offset: Int64(number), reason: "key #\(number): \(what)")
            }
            func check(_ number: Int, _ value: UnsafeRawBufferPointer) throws {
                try DBBench.check(number, value, version: versions[number], size: configuration.valueSize, pool: context.pool)
            }
            // Key numbers this thread owns for writes: ≡ thread (mod threads).
            let owned = (num - thread + threads - 1) / threads

            switch context.phase {
            case .fillseq, .fillrandom, .overwrite, .overwriteCount:
                var total = num
                if case let .overwriteCount(count) = context.phase { total = count }
                let count = share(total, threads: threads)
                // fillseq: a contiguous range of numbers per thread, in order.
                let first = (num / threads) * thread + min(thread, num % threads)
                var batch = WriteBatch()
                for index in 0..<count {
                    if index & 1023 == 0 && context.isStopped { break }
                    let number: Int
                    if context.phase == .fillseq {
                        number = first + index
                    } else {
                        guard owned > 0 else { break }
                        number = thread + threads * random.below(owned)
                    }
                    DBBenchKey.write(number, into: &key)
                    let version = versions[number] == 255 ? 1 : versions[number] + 1
                    let from = DBBench.valueStart(number, version)
                    value.removeAll(keepingCapacity: true)
                    value.append(contentsOf: context.pool[from..<(from + configuration.valueSize)])
                    versions[number] = version
                    operations += 1
                    // In-memory indexes keep the key array: hand over a fresh copy, not our buffer.
                    if configuration.batchSize == 1 {
                        try store.put(Array(key), value)
                        commits += 1
                        continue
                    }
                    batch.put(Array(key), value)
                    if batch.count == configuration.batchSize || index == count - 1 {
                        try store.apply(batch)
                        commits += 1
                        batch.removeAll()
                    }
                }
            case .readrandom:
                var hits = 0
                for index in 0..<share(num, threads: threads) {
                    if index & 1023 == 0 && context.isStopped { break }
                    let number = random.below(num)
                    DBBenchKey.write(number, into: &key)
                    let hit = try store.get(key, into: &readBuffer)
                    guard hit == (versions[number] != 0) else {
                        throw mismatch(number, hit ? "a deleted or never written key was found" : "a written key was not found")
                    }
                    if hit {
                        try readBuffer.withUnsafeBytes { try check(number, $0) }
                        hits += 1
                    }
                    operations += 1
                }
                found = hits
            case .readseq:
                // Every thread reads the whole store, as db_bench's readseq does per thread.
                var expected = 0
                let visited = try store.scan(from: [], limit: Int.max) { key, value in
                    let number = DBBenchKey.number(key)
                    guard number < num else { throw mismatch(number, "a key that was never written in a full scan") }
                    while expected < number {
                        if versions[expected] != 0 { throw mismatch(expected, "missing from a full scan") }
                        expected += 1
                    }
                    guard versions[number] != 0 else { throw mismatch(number, "a deleted key in a full scan") }
                    try check(number, value)
                    expected = number + 1
                }
                while expected < num {
                    if versions[expected] != 0 { throw mismatch(expected, "missing from a full scan") }
                    expected += 1
                }
                operations = visited
                found = visited
            case .seekrandom:
                var hits = 0
                for index in 0..<share(max(1, num / 10), threads: threads) {
                    if index & 1023 == 0 && context.isStopped { break }
                    DBBenchKey.write(random.below(num), into: &key)
                    var previous = -1
                    let visited = try store.scan(from: key, limit: configuration.seekNexts) { key, value in
                        let number = DBBenchKey.number(key)
                        guard number > previous, number < num, versions[number] != 0 else {
                            throw mismatch(number, "a scan returned keys out of order, or a deleted key")
                        }
                        try check(number, value)
                        previous = number
                    }
                    if visited > 0 { hits += 1 }
                    operations += 1
                }
                found = hits
            case .deleterandom:
                for index in 0..<share(num, threads: threads) {
                    if index & 1023 == 0 && context.isStopped { break }
                    guard owned > 0 else { break }
                    let number = thread + threads * random.below(owned)
                    DBBenchKey.write(number, into: &key)
                    try store.delete(key)
                    versions[number] = 0
                    operations += 1
                    commits += 1
                }
            case .compact, .reopen, .reopenAfterCrash:
                preconditionFailure("\(context.phase) is not a data phase")
            }
        }
    }

    /// Throws unless `value` is exactly the bytes written for key `number` at `version`.
    private static func check(_ number: Int, _ value: UnsafeRawBufferPointer, version: UInt8, size: Int, pool: [UInt8]) throws {
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
