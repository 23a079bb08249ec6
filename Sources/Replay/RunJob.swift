import Foundation
import ResultsSchema
import StoreCore
import Workload

/// One `storebench run` of one materialized workload, end to end: the session on every engine and
/// layout, the device's fsync limit under durability `always`, and the results file assembled —
/// everything the command line does between parsing its options and printing.
public struct RunJob {
    /// The workload as `WorkloadMaterializer` made it, and the name it was asked for.
    public var workload: WorkloadMaterializer.Materialized
    public var requested: String
    public var plan: RunPlan
    public var engines: [EngineDescriptor]
    public var layouts: [WorkerLayout]
    public var repetitions: Int
    public var objective: LatencyObjective?
    /// The options results record (beyond what the plan holds).
    public var compressibility: Double
    public var valueSize: Int?
    public var degradation: String?
    public var tool: Results.Tool
    /// The arguments that would run this again (`baseline check`).
    public var invocation: [String]?
    /// Where stores, latency logs and the fsync probe go.
    public var scratch: String
    public var progress: ((String) -> Void)?

    public init(workload: WorkloadMaterializer.Materialized, requested: String, plan: RunPlan, engines: [EngineDescriptor],
                layouts: [WorkerLayout], repetitions: Int, compressibility: Double, tool: Results.Tool, scratch: String) {
        self.workload = workload
        self.requested = requested
        self.plan = plan
        self.engines = engines
        self.layouts = layouts
        self.repetitions = repetitions
        self.compressibility = compressibility
        self.tool = tool
        self.scratch = scratch
    }

    /// What a job hands back: its results, and the harness's own cost per layout.
    public struct Output {
        public var results: Results
        public var harnessOverhead: [(layout: WorkerLayout, nanoseconds: Double)]
        /// Measured operations of the first run.
        public var measuredOps: Int { results.runs.first?.ops ?? 0 }
    }

    /// Runs every engine and assembles the results (not yet written).
    public func run() throws -> Output {
        var plan = plan
        let latencyLogs = scratch + "/latency-logs-\(workload.name)"
        try StorageDirectory.createPath(latencyLogs, fileSystem: PosixFileSystem())
        plan.latencyLogDirectory = latencyLogs
        var session = RunSession(engines: engines, plan: plan, layouts: layouts, repetitions: repetitions, scratch: scratch)
        session.progress = progress
        session.objective = objective
        let (runs, overheads) = try session.run()
        let options = plan.options
        var resultOptions = Results.Options(
            durability: options.durability.rawValue, pace: plan.pace.description, repeat: repetitions,
            valueCompressibility: compressibility, sampleIntervalS: plan.sampleInterval,
            settings: options.settings, crashKillPoints: plan.killPoints, degradation: degradation)
        resultOptions.valueSize = valueSize
        resultOptions.percentiles = plan.percentiles.isEmpty ? nil : plan.percentiles
        var machine = Results.Machine.current()
        if options.durability == .always {
            // On the stores' own device, after the engines: the limit one durable writer meets.
            let device = try Microbenchmarks.fsyncRates(seconds: 1, under: scratch)
            machine.fsyncOverwritePerS = device.overwrite
            machine.fsyncAppendPerS = device.append
        }
        let header = workload.header
        var results = Results(
            tool: tool, machine: machine,
            workload: .init(name: workload.name, source: header.source ?? requested, seed: header.seed ?? plan.seed,
                            records: header.loadOperations, operations: plan.totalRecords - header.loadOperations),
            options: resultOptions, runs: runs, invocation: invocation)
        results.date = ISO8601Time.now()
        return Output(results: results, harnessOverhead: overheads)
    }

    /// Where this job's HdrHistogram interval logs are written before `ResultsWriter` moves them.
    public var latencyLogDirectory: String { scratch + "/latency-logs-\(workload.name)" }
}

extension Results.Machine {
    /// This machine: CPUs, memory, kernel.
    public static func current() -> Results.Machine {
        var system = utsname()
        uname(&system)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return Results.Machine(
            cpus: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
            memoryBytes: Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE))),
            os: "\(text(system.sysname)) \(text(system.release)) \(text(system.machine))")
    }
}
