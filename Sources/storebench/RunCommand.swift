import ArgumentParser
import Engines
import Foundation
import ProcessMemory
import Replay
import Report
import ResultsSchema
import StoreCore
import Workload


struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Replay workloads on each engine, measure everything, and report the engines side by side.",
        discussion: """
            With no workload, replays the embedded `default` mix on every engine. Each engine gets a fresh \
            directory: load phase, measured run phase (throughput, latency percentiles per operation, a time \
            series, bytes on disk, write amplification, maintenance pauses, memory), clean reopen, and crash \
            recovery (a child process replays the workload and is killed with SIGKILL at seeded points; the \
            reopened store is checked against every acknowledged commit). Writes results.json, \
            timeseries.csv and report.html into --out/<time>-<workload>/.
            """
    )

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case table, json, csv, markdown
    }

    @Argument(help: "Workloads: shipped spec names (default, ycsb-a, churn, …), YCSB properties files, or storebench traces.")
    var workloads: [String] = []

    @Option(help: "Engines: a comma-separated list of names, or `all`.")
    var engines = "all"

    @Option(help: "Override the spec's recordcount (load phase).")
    var records: Int?

    @Option(help: "Override the spec's operationcount (run phase).")
    var ops: Int?

    @Option(help: "Override the value size in bytes (fieldcount=1, fieldlength=N).")
    var valueSize: Int?

    @Option(help: "Seed of the workload generator, the synthesized values and the crash kill points.")
    var seed: UInt64 = 1

    @Option(help: "max, recorded[:SPEEDUP] or rate:OPS. Paced runs measure latency from when each operation was due.")
    var pace = "max"

    @Option(help: "Run every engine this many times (results.json keeps every repetition).")
    var `repeat` = 1

    @Option(help: ArgumentHelp(ThreadCounts.help + " Operations are shared by key hash, so each key keeps its recorded order."))
    var threads = ThreadCounts([1])

    @Option(help: "With --writers: threads that replay only the reads (gets, scans), by key hash. For generated mixes: a read no longer waits for the writes recorded before it.")
    var readers: Int?

    @Option(help: "With --readers: threads that replay only the writes (puts, deletes, read-modify-writes, batches), by key hash.")
    var writers: Int?

    @Option(help: "Warm-up at the start of the run phase: seconds (`30s`) or operations (`100000`); it shows in the time series but not in the figures.")
    var warmup: String?

    @Option(help: "Age each store before measuring: write the loaded records this many times more, with new values, each round in shuffled order.")
    var age = 0

    @Flag(help: "After the runs, search each engine's highest arrival rate that holds --slo (paced, open-loop runs by bisection).")
    var findMax = false

    @Option(help: "The latency objective of --find-max, e.g. p99<2ms (p50, p90, p99, p99.9; us, ms, s).")
    var slo = "p99<1ms"

    @Option(help: "Crash kills per persistent engine (0 skips the crash phase).")
    var killPoints = 1

    @Option(help: "Latency percentiles to report besides max, e.g. 50,90,99,99.9,99.99 (default: the table shows p50, p99, p99.9; results always have p50, p90, p99, p99.9).")
    var percentiles: String?

    @Option(help: "Seconds per time-series sample.")
    var interval = 1.0

    @Option(help: "Fraction of each synthesized value that compresses away (0 = random bytes).")
    var compressibility = 0.5

    @Option(help: "Scratch directory for the engines' stores (default: a temporary directory, removed afterwards).")
    var dir: String?

    @Option(help: "Where run directories with results.json, timeseries.csv and report.html go.")
    var out = "Results/runs"

    @Option(help: "What to print: table, json, csv or markdown.")
    var format: OutputFormat = .table

    @Flag(help: "No live progress line (it is shown only on a terminal and never in CI anyway).")
    var noProgress = false

    @Option(help: ArgumentHelp("For testing regression checks only: make every engine worse (double-writes, extra-fsync, slow-writes:MICROSECONDS, early-ack).", visibility: .hidden))
    var degrade: String?

    @OptionGroup var store: StoreOptionGroup

    @Option(help: "Format of trace files given as workloads (default: recognised; see workload convert).")
    var from: InputFormat?

    @OptionGroup(title: "Reading traces") var importing: ImportOptionGroup

    @OptionGroup(title: "Reshaping traces") var controls: ReplayControlGroup

    /// The thread layouts to run, in order.
    var layouts: [WorkerLayout] {
        if let readers, let writers { return [.roles(readers: readers, writers: writers)] }
        return threads.counts.map { .threads($0) }
    }

    func run() throws {
        var options = try store.storeOptions()
        options.degradation = degrade.flatMap(Degradation.init(parsing:))
        let selected = try StoreOptionGroup.engines(engines, options: options)
        let pace = try Pace(parsing: self.pace)
        let scratch = try dir ?? TemporaryDirectory.make()
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: scratch) } }
        try StorageDirectory.createPath(scratch, fileSystem: options.fileSystem)
        let showProgress = !noProgress && isatty(2) != 0 && ProcessInfo.processInfo.environment["CI"] == nil
        let progress: ((String) -> Void)? = showProgress ? { message in
            var standardError = StandardError()
            print("\r\u{1B}[K" + message, terminator: "", to: &standardError)
        } : nil

        var failures: [String] = []
        for workload in workloads.isEmpty ? ["default"] : workloads {
            let materialized = try prepare(workload, scratch: scratch)
            guard let total = try TraceReader.recordCount(path: materialized.path) else {
                throw ValidationError("\(materialized.path) has no trailer: the trace is cut off")
            }
            let header = materialized.header
            let synthesizer = ValueSynthesizer(seed: header.seed ?? seed, compressibility: compressibility)
            var plan = RunPlan(
                tracePath: materialized.path, loadRecords: header.loadOperations, totalRecords: total, options: options,
                pace: pace, sampleInterval: interval, synthesizer: synthesizer, seed: seed, killPoints: killPoints,
                crashExecutable: CommandLine.executablePath,
                crashChild: CrashChildArguments(
                    tracePath: materialized.path, durability: options.durability, seed: header.seed ?? seed,
                    compressibility: compressibility, settings: store.settings, degradation: degrade))
            plan.warmUp = warmup.flatMap(WarmUp.init(parsing:))
            plan.ageRounds = age
            plan.percentiles = percentiles.flatMap(PercentileList.parse) ?? []
            var job = RunJob(workload: materialized, requested: workload, plan: plan, engines: selected, layouts: layouts,
                             repetitions: `repeat`, compressibility: compressibility,
                             tool: .init(version: ToolVersion.current, commit: ToolVersion.commit), scratch: scratch)
            job.objective = findMax ? try LatencyObjective(parsing: slo) : nil
            job.valueSize = valueSize
            job.degradation = degrade
            job.invocation = invocation(workload: workload)
            job.progress = progress
            let output = try job.run()
            if showProgress { print("\r\u{1B}[K", terminator: "") }
            let results = output.results
            let directory = try ResultsWriter.write(results, under: out, name: materialized.name, latencyLogs: job.latencyLogDirectory)
            switch format {
            case .table:
                printTable(results, header: header, total: total, runOps: output.measuredOps, options: options, pace: pace,
                           layouts: layouts, overheads: output.harnessOverhead, directory: directory)
            case .json: print(String(decoding: try results.encoded(), as: UTF8.self))
            case .csv: print(SummaryTable.csv(results), terminator: "")
            case .markdown: print(SummaryTable.markdown(results), terminator: "")
            }
            failures += results.durabilityFailures
        }
        // A run whose crash checks lost data fails, after printing and writing everything.
        if !failures.isEmpty {
            var standardError = StandardError()
            for failure in failures { print("storebench: \(failure)", to: &standardError) }
            throw ExitCode(1)
        }
    }
}
