import Foundation

/// `results.json`, schema `storebench.results/1` (SCHEMA.md beside this file): what tools,
/// scripts and CI read.
/// Keys are snake_case in the file (`opsPerS` ↔ `ops_per_s`); keys may be added, none renamed
/// without a schema bump.
public struct Results: Codable, Sendable, Equatable {
    public static let schemaName = "storebench.results/1"

    public var schema = Results.schemaName
    public var tool: Tool
    public var machine: Machine
    public var workload: Workload
    public var options: Options
    public var runs: [Run]
    /// The `storebench run` arguments that produced these results (without output options), so a
    /// baseline can be run again exactly.
    public var invocation: [String]?
    /// When the run ended, UTC (`2026-12-04T21:30:00Z`): `history` orders results by it.
    public var date: String?

    public init(tool: Tool, machine: Machine, workload: Workload, options: Options, runs: [Run], invocation: [String]? = nil) {
        self.tool = tool
        self.machine = machine
        self.workload = workload
        self.options = options
        self.runs = runs
        self.invocation = invocation
    }

    public struct Tool: Codable, Sendable, Equatable {
        public var version: String
        public var commit: String
        public init(version: String, commit: String) {
            self.version = version
            self.commit = commit
        }
    }

    public struct Machine: Codable, Sendable, Equatable {
        public var cpus: Int
        public var memoryBytes: Int
        public var os: String
        /// 4 KiB overwrites + fdatasync, and 4 KiB appends + fdatasync, per second, measured on the
        /// stores' device after the engines ran under durability `always` (`nil` otherwise): the
        /// device's limit for one-writer durable commits.
        public var fsyncOverwritePerS: Double?
        public var fsyncAppendPerS: Double?
        public init(cpus: Int, memoryBytes: Int, os: String) {
            self.cpus = cpus
            self.memoryBytes = memoryBytes
            self.os = os
        }
    }

    public struct Workload: Codable, Sendable, Equatable {
        public var name: String
        public var source: String
        public var seed: UInt64
        /// Operations of the load phase.
        public var records: Int
        /// Operations of the measured run phase.
        public var operations: Int
        public init(name: String, source: String, seed: UInt64, records: Int, operations: Int) {
            self.name = name
            self.source = source
            self.seed = seed
            self.records = records
            self.operations = operations
        }
    }

    public struct Options: Codable, Sendable, Equatable {
        public var durability: String
        public var pace: String
        public var `repeat`: Int
        public var valueCompressibility: Double
        public var sampleIntervalS: Double
        public var settings: [String: String]
        public var crashKillPoints: Int
        /// A deliberate degradation (`--degrade`), for testing regression checks; `nil` normally.
        public var degradation: String?
        /// `--value-size` when it overrode the workload's value sizes.
        public var valueSize: Int?
        /// `--percentiles`: the latency percentiles asked for (each `latency_us.percentiles`).
        public var percentiles: [Double]?
        public init(durability: String, pace: String, repeat: Int, valueCompressibility: Double,
                    sampleIntervalS: Double, settings: [String: String], crashKillPoints: Int, degradation: String? = nil) {
            self.durability = durability
            self.pace = pace
            self.repeat = `repeat`
            self.valueCompressibility = valueCompressibility
            self.sampleIntervalS = sampleIntervalS
            self.settings = settings
            self.crashKillPoints = crashKillPoints
            self.degradation = degradation
        }
    }

    public struct Run: Codable, Sendable, Equatable {
        public var engine: String
        /// Which repetition (1…K) of `--repeat K`.
        public var repetition: Int
        public var ops: Int
        public var elapsedS: Double
        public var opsPerS: Double
        public var byOp: [String: OpStats]
        /// Latency of the operations that overlapped maintenance work.
        public var duringMaintenance: OpStats?
        public var load: Phase
        public var disk: Disk
        public var io: IO
        /// Maintenance pauses; `nil` for an engine whose library does not report them.
        public var pauses: Pauses?
        public var events: [Event]
        public var recovery: Recovery
        public var memory: Memory
        public var harness: Harness
        public var timeseries: Timeseries
        /// What the engine reports about itself at the end of the run phase (its own key count,
        /// live and dead bytes, where it knows them).
        public var engineStatistics: EngineStatistics?
        /// CPU and I/O the run phase used.
        public var resources: Resources?
        /// `--age N`: the loaded records written N times more before the run.
        public var age: Phase?
        /// `--warmup`: seconds at the start of the run phase that count in the time series only.
        public var warmUpS: Double?
        /// Whether throughput had settled by the end of the run.
        public var steadyState: SteadyState?
        /// `--find-max`: the highest rate held within the latency objective.
        public var maximumRate: MaximumRate?
        /// The engine's own block or chunk cache over the run phase (absent: it does not count).
        public var cache: CacheUse?
        /// The store's files in the kernel's page cache when the run phase started and ended.
        public var pageCache: PageCacheUse?
        /// The run phase's HdrHistogram interval log (`.hlog`), beside results.json: one tagged
        /// histogram per interval and operation kind.
        public var latencyLog: String?
        /// The engine's settings in effect, defaults included (absent: it has none, or did not say).
        public var settings: [String: String]?
        /// Client threads that replayed the run phase (absent in files from before threads: 1).
        public var threads: Int?
        /// With `--readers R --writers W`: the threads that replayed only reads, and only writes.
        public var readers: Int?
        public var writers: Int?

        /// Whether the byte, sync and event counters depend only on the seed: one client thread and
        /// an engine of ours that does its maintenance in the caller's thread. With several
        /// threads the commit order depends on timing; background flushes, compactions and hint
        /// writes land where the scheduler puts them; a reference engine's bytes are the kernel's
        /// count of its library's writes.
        public var deterministicCounters: Bool?

        /// Client threads, 1 for results written before runs had threads.
        public var threadCount: Int { threads ?? 1 }

        /// How the run's threads were laid out: `4` or `3r+1w`.
        public var threadLabel: String {
            if let readers, let writers { return "\(readers)r+\(writers)w" }
            return String(threadCount)
        }

        public init(engine: String, repetition: Int, ops: Int, elapsedS: Double, opsPerS: Double,
                    byOp: [String: OpStats], duringMaintenance: OpStats?, load: Phase, disk: Disk, io: IO,
                    pauses: Pauses?, events: [Event], recovery: Recovery, memory: Memory, harness: Harness,
                    timeseries: Timeseries) {
            self.engine = engine
            self.repetition = repetition
            self.ops = ops
            self.elapsedS = elapsedS
            self.opsPerS = opsPerS
            self.byOp = byOp
            self.duringMaintenance = duringMaintenance
            self.load = load
            self.disk = disk
            self.io = io
            self.pauses = pauses
            self.events = events
            self.recovery = recovery
            self.memory = memory
            self.harness = harness
            self.timeseries = timeseries
        }
    }

    public struct EngineStatistics: Codable, Sendable, Equatable {
        public var keyCount: Int?
        public var liveBytes: Int?
        public var deadBytes: Int?
        public init(keyCount: Int?, liveBytes: Int?, deadBytes: Int?) {
            self.keyCount = keyCount
            self.liveBytes = liveBytes
            self.deadBytes = deadBytes
        }
    }

    public struct OpStats: Codable, Sendable, Equatable {
        public var count: Int
        public var opsPerS: Double
        public var latencyUs: Latency
        public init(count: Int, opsPerS: Double, latencyUs: Latency) {
            self.count = count
            self.opsPerS = opsPerS
            self.latencyUs = latencyUs
        }
    }

    public struct Latency: Codable, Sendable, Equatable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
        /// With `--percentiles`: each percentile asked for, keyed `p50`, `p99.99`.
        public var percentiles: [String: Double]?
        public init(p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.p999 = p999
            self.max = max
        }
    }

    public struct Phase: Codable, Sendable, Equatable {
        public var ops: Int
        public var elapsedS: Double
        public init(ops: Int, elapsedS: Double) {
            self.ops = ops
            self.elapsedS = elapsedS
        }
    }

    public struct Disk: Codable, Sendable, Equatable {
        /// Sum of file sizes at the end of the run.
        public var finalBytes: Int
        /// Largest sum of file sizes seen while sampling.
        public var peakBytes: Int
        /// Bytes allocated on the device at the end (`st_blocks × 512`).
        public var finalAllocatedBytes: Int
        /// Keys and values the store holds at the end, counted by the runner's own scan.
        public var liveBytes: Int
        /// final / live.
        public var spaceAmp: Double?
        /// Bytes on disk over the run phase, weighted by time (each sample for its interval),
        /// over the live bytes at the end; and the largest sample over them. Space amplification
        /// is a sawtooth under compaction: one sample at the end says little.
        public var spaceAmpMean: Double?
        public var spaceAmpMax: Double?
        public init(finalBytes: Int, peakBytes: Int, finalAllocatedBytes: Int, liveBytes: Int, spaceAmp: Double?,
                    spaceAmpMean: Double? = nil, spaceAmpMax: Double? = nil) {
            self.finalBytes = finalBytes
            self.peakBytes = peakBytes
            self.finalAllocatedBytes = finalAllocatedBytes
            self.liveBytes = liveBytes
            self.spaceAmp = spaceAmp
            self.spaceAmpMean = spaceAmpMean
            self.spaceAmpMax = spaceAmpMax
        }

        /// The time-weighted mean and the largest of `diskBytes` sampled at the ends `t` of the
        /// intervals, over `liveBytes`.
        public static func amplification(t: [Double], diskBytes: [Int], liveBytes: Int) -> (mean: Double, max: Double)? {
            guard liveBytes > 0, !diskBytes.isEmpty, t.count == diskBytes.count else { return nil }
            var weighted = 0.0
            var previous = 0.0
            for (end, bytes) in zip(t, diskBytes) {
                weighted += Double(bytes) * max(end - previous, 0)
                previous = end
            }
            let span = t.last ?? 0
            let mean = span > 0 ? weighted / span : Double(diskBytes.last!)
            return (mean / Double(liveBytes), Double(diskBytes.max()!) / Double(liveBytes))
        }
    }

    public struct IO: Codable, Sendable, Equatable {
        public var userBytesWritten: Int
        public var fileBytesWritten: Int
        /// The kernel's count for this process (`/proc/self/io` write_bytes) over the run phase.
        public var osBytesWritten: Int?
        public var writeAmp: Double?
        /// fsync and fdatasync calls the engine made; `nil` where its library syncs uncounted.
        public var fsyncs: Int?
        /// Write commits of the run phase (a put, delete, read-modify-write or batch is one).
        public var commits: Int?
        /// fsyncs / commits: below 1 when commits share syncs (group commit); `nil` where the
        /// engine's library syncs without counting.
        public var fsyncsPerCommit: Double?
        public init(userBytesWritten: Int, fileBytesWritten: Int, osBytesWritten: Int?, writeAmp: Double?, fsyncs: Int?,
                    commits: Int? = nil, fsyncsPerCommit: Double? = nil) {
            self.userBytesWritten = userBytesWritten
            self.fileBytesWritten = fileBytesWritten
            self.osBytesWritten = osBytesWritten
            self.writeAmp = writeAmp
            self.fsyncs = fsyncs
            self.commits = commits
            self.fsyncsPerCommit = fsyncsPerCommit
        }
    }

    public struct Pauses: Codable, Sendable, Equatable {
        /// Maintenance events that blocked writers.
        public var count: Int
        public var totalMs: Double
        public var maxMs: Double
        public var p99Ms: Double
        /// Share of the run phase during which writers were blocked.
        public var stalledFraction: Double
        public init(count: Int, totalMs: Double, maxMs: Double, p99Ms: Double, stalledFraction: Double) {
            self.count = count
            self.totalMs = totalMs
            self.maxMs = maxMs
            self.p99Ms = p99Ms
            self.stalledFraction = stalledFraction
        }
    }

    public struct Event: Codable, Sendable, Equatable {
        public var kind: String
        /// Seconds from the start of the run phase (negative: during the load phase).
        public var startS: Double
        public var durationMs: Double
        public var bytesRead: Int
        public var bytesWritten: Int
        public var blockedWriters: Bool
        public var detail: String
        public init(kind: String, startS: Double, durationMs: Double, bytesRead: Int, bytesWritten: Int, blockedWriters: Bool, detail: String) {
            self.kind = kind
            self.startS = startS
            self.durationMs = durationMs
            self.bytesRead = bytesRead
            self.bytesWritten = bytesWritten
            self.blockedWriters = blockedWriters
            self.detail = detail
        }
    }

    public struct Recovery: Codable, Sendable, Equatable {
        public var cleanOpenMs: Double?
        /// Median open time after the crash kills.
        public var crashOpenMs: Double?
        /// Every kill point recovered to a state consistent with the acknowledged commits.
        public var crashVerified: Bool?
        /// Acknowledged commits missing after recovery, over all kill points.
        public var lostCommits: Int?
        /// Batches found partly applied, over all kill points.
        public var partialBatches: Int?
        public var killPoints: Int
        /// Kill points at which the child was still running (it may finish first).
        public var kills: Int
        public var note: String?
        public init(cleanOpenMs: Double?, crashOpenMs: Double?, crashVerified: Bool?, lostCommits: Int?,
                    partialBatches: Int?, killPoints: Int, kills: Int = 0, note: String?) {
            self.cleanOpenMs = cleanOpenMs
            self.crashOpenMs = crashOpenMs
            self.crashVerified = crashVerified
            self.lostCommits = lostCommits
            self.partialBatches = partialBatches
            self.killPoints = killPoints
            self.kills = kills
            self.note = note
        }
    }

    public struct Memory: Codable, Sendable, Equatable {
        /// Peak resident set size: with `peak_rss_scope` "engine", the process's high-water mark
        /// from just before this engine's store was opened to the end of its run phase (memory
        /// earlier engines freed was returned to the system first); with "process", the
        /// process's peak so far (the kernel could not reset it).
        public var peakRssBytes: Int
        public var peakRssScope: String?
        /// jemalloc `stats.allocated` at the end of the run phase minus just before the store was
        /// opened: what this engine (and the replay's own buffers, the same for every engine) holds.
        public var allocatedBytes: Int?
        /// jemalloc `stats.allocated` of the whole process at the end of the run phase.
        public var processAllocatedBytes: Int?
        /// jemalloc `stats.resident` of the whole process at the end of the run phase.
        public var residentBytes: Int?
        public init(peakRssBytes: Int, peakRssScope: String? = nil, allocatedBytes: Int?, processAllocatedBytes: Int? = nil,
                    residentBytes: Int?) {
            self.peakRssBytes = peakRssBytes
            self.peakRssScope = peakRssScope
            self.allocatedBytes = allocatedBytes
            self.processAllocatedBytes = processAllocatedBytes
            self.residentBytes = residentBytes
        }
    }

    /// Lookups of an engine's own cache during the run phase.
    public struct CacheUse: Codable, Sendable, Equatable {
        public var hits: Int
        public var misses: Int
        /// hits / (hits + misses); `nil` without lookups.
        public var hitRate: Double?
        public init(hits: Int, misses: Int) {
            self.hits = hits
            self.misses = misses
            hitRate = hits + misses > 0 ? Double(hits) / Double(hits + misses) : nil
        }
    }

    /// Bytes of the store's files, and of those resident in the page cache (`mincore`).
    public struct PageCacheUse: Codable, Sendable, Equatable {
        public var storeBytesStart: Int
        public var residentBytesStart: Int
        public var storeBytesEnd: Int
        public var residentBytesEnd: Int
        public init(storeBytesStart: Int, residentBytesStart: Int, storeBytesEnd: Int, residentBytesEnd: Int) {
            self.storeBytesStart = storeBytesStart
            self.residentBytesStart = residentBytesStart
            self.storeBytesEnd = storeBytesEnd
            self.residentBytesEnd = residentBytesEnd
        }
    }

    /// CPU and I/O over the run phase, for the whole process (harness threads and the engine's
    /// background threads included) and, for the device, every process using it.
    public struct Resources: Codable, Sendable, Equatable {
        public var cpuUserS: Double
        public var cpuSystemS: Double
        /// (user + system) CPU time per completed operation.
        public var cpuUsPerOp: Double?
        public var contextSwitches: Int
        /// `/proc/self/io` syscr, syscw: read and write system calls.
        public var readCalls: Int?
        public var writeCalls: Int?
        /// `/proc/self/io` read_bytes: bytes fetched from storage (page-cache misses).
        public var osBytesRead: Int?
        /// `/proc/diskstats` of the store's device: reads and writes completed.
        public var deviceReads: Int?
        public var deviceWrites: Int?
        public var deviceReadsPerOp: Double?

        public init(cpuUserS: Double, cpuSystemS: Double, cpuUsPerOp: Double?, contextSwitches: Int, readCalls: Int?, writeCalls: Int?,
                    osBytesRead: Int?, deviceReads: Int?, deviceWrites: Int?, deviceReadsPerOp: Double?) {
            self.cpuUserS = cpuUserS
            self.cpuSystemS = cpuSystemS
            self.cpuUsPerOp = cpuUsPerOp
            self.contextSwitches = contextSwitches
            self.readCalls = readCalls
            self.writeCalls = writeCalls
            self.osBytesRead = osBytesRead
            self.deviceReads = deviceReads
            self.deviceWrites = deviceWrites
            self.deviceReadsPerOp = deviceReadsPerOp
        }
    }

    /// Whether a run reached steady state: the relative change of mean throughput between the
    /// last three intervals and the three before them (after any warm-up). Drifting runs measure
    /// something still changing: a store still filling its levels, a cache still warming.
    public struct SteadyState: Codable, Sendable, Equatable {
        /// (mean of the last 3 intervals − mean of the 3 before) / the mean of the 3 before.
        public var drift: Double
        /// |drift| below 10%.
        public var steady: Bool

        public init(drift: Double, steady: Bool) {
            self.drift = drift
            self.steady = steady
        }

        /// `nil` when the run has fewer than six full intervals after the warm-up.
        public static func judge(_ throughput: [Double], warmUpIntervals: Int) -> SteadyState? {
            // The last interval is cut short at the end: leave it out.
            let usable = Array(throughput.dropFirst(warmUpIntervals).dropLast())
            guard usable.count >= 6 else { return nil }
            let last = usable.suffix(3).reduce(0, +) / 3
            let before = usable.dropLast(3).suffix(3).reduce(0, +) / 3
            guard before > 0 else { return nil }
            let drift = (last - before) / before
            return SteadyState(drift: drift, steady: abs(drift) < 0.10)
        }
    }

    /// The highest offered rate at which the latency objective held (`run --find-max --slo`).
    public struct MaximumRate: Codable, Sendable, Equatable {
        public struct Probe: Codable, Sendable, Equatable {
            public var offeredOpsPerS: Double
            public var achievedOpsPerS: Double
            /// The objective's percentile, in µs, from when each operation was due.
            public var latencyUs: Double?
            public var passed: Bool
            public init(offeredOpsPerS: Double, achievedOpsPerS: Double, latencyUs: Double?, passed: Bool) {
                self.offeredOpsPerS = offeredOpsPerS
                self.achievedOpsPerS = achievedOpsPerS
                self.latencyUs = latencyUs
                self.passed = passed
            }
        }

        /// e.g. `p99<2000us`.
        public var objective: String
        /// `nil` when no rate tried held it.
        public var maxOpsPerS: Double?
        /// Every rate tried, by rate: the latency-versus-rate curve.
        public var probes: [Probe]

        public init(objective: String, maxOpsPerS: Double?, probes: [Probe]) {
            self.objective = objective
            self.maxOpsPerS = maxOpsPerS
            self.probes = probes
        }
    }

    public struct Harness: Codable, Sendable, Equatable {
        /// Time the replay loop itself takes per operation (reading the trace, synthesizing values,
        /// timing, histograms), measured against a store that does nothing.
        public var perOpOverheadNs: Double
        public init(perOpOverheadNs: Double) {
            self.perOpOverheadNs = perOpOverheadNs
        }
    }

    public struct Timeseries: Codable, Sendable, Equatable {
        public var intervalS: Double
        /// End of each interval, seconds from the start of the run phase.
        public var t: [Double]
        public var opsPerS: [Double]
        public var p99Us: [Double]
        /// The median, p99.9 and maximum of each interval (absent in files from before them).
        public var p50Us: [Double]?
        public var p999Us: [Double]?
        public var maxUs: [Double]?
        public var diskBytes: [Int]
        public var allocatedDiskBytes: [Int]
        public init(intervalS: Double, t: [Double], opsPerS: [Double], p99Us: [Double], diskBytes: [Int], allocatedDiskBytes: [Int]) {
            self.intervalS = intervalS
            self.t = t
            self.opsPerS = opsPerS
            self.p99Us = p99Us
            self.diskBytes = diskBytes
            self.allocatedDiskBytes = allocatedDiskBytes
        }
    }
}

extension Results {
    /// What the crash checks found lost or torn, one line per engine run (empty: nothing).
    public var durabilityFailures: [String] {
        runs.compactMap { run in
            let lost = run.recovery.lostCommits ?? 0
            let partial = run.recovery.partialBatches ?? 0
            guard lost > 0 || partial > 0 else { return nil }
            return "\(workload.name): \(run.engine) (\(run.threadLabel) thread\(run.threadCount == 1 ? "" : "s"), repetition \(run.repetition)) "
                + "lost \(lost) acknowledged commit(s) and left \(partial) batch(es) partly applied over \(run.recovery.killPoints) crash kill(s)"
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> Results {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Results.self, from: data)
    }
}
