import Foundation

/// `results.json`, schema `storebench.results/1` (DESIGN.md): what tools, scripts and CI read.
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
        /// Client threads that replayed the run phase (absent in files from before threads: 1).
        public var threads: Int?
        /// With `--readers R --writers W`: the threads that replayed only reads, and only writes.
        public var readers: Int?
        public var writers: Int?

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
        public init(finalBytes: Int, peakBytes: Int, finalAllocatedBytes: Int, liveBytes: Int, spaceAmp: Double?) {
            self.finalBytes = finalBytes
            self.peakBytes = peakBytes
            self.finalAllocatedBytes = finalAllocatedBytes
            self.liveBytes = liveBytes
            self.spaceAmp = spaceAmp
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
        public var peakRssBytes: Int
        /// jemalloc `stats.allocated` at the end of the run phase (the whole process).
        public var allocatedBytes: Int?
        public var residentBytes: Int?
        public init(peakRssBytes: Int, allocatedBytes: Int?, residentBytes: Int?) {
            self.peakRssBytes = peakRssBytes
            self.allocatedBytes = allocatedBytes
            self.residentBytes = residentBytes
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
