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

    @Option(help: "Age each store before measuring: write the loaded records this many times more, with new values.")
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

    func validate() throws {
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1") }
        if let percentiles, PercentileList.parse(percentiles) == nil {
            throw ValidationError("--percentiles expects numbers above 0 and at most 100, comma-separated (e.g. 50,99,99.99), got `\(percentiles)`")
        }
        guard killPoints >= 0 else { throw ValidationError("--kill-points must not be negative") }
        guard interval > 0 else { throw ValidationError("--interval must be positive") }
        guard (0...1).contains(compressibility) else { throw ValidationError("--compressibility must be between 0 and 1") }
        if let degrade, Degradation(parsing: degrade) == nil {
            throw ValidationError("--degrade takes double-writes, extra-fsync, slow-writes:MICROSECONDS or early-ack")
        }
        if let records, records <= 0 { throw ValidationError("--records must be positive") }
        if findMax { _ = try LatencyObjective(parsing: slo) }
        if let warmup, WarmUp(parsing: warmup) == nil { throw ValidationError("--warmup takes seconds (30s) or an operation count (100000)") }
        guard (0...1000).contains(age) else { throw ValidationError("--age must be between 0 and 1000") }
        if readers != nil || writers != nil {
            guard let readers, let writers else { throw ValidationError("--readers and --writers go together") }
            guard readers >= 1, writers >= 1, readers + writers <= ThreadCounts.maximum else {
                throw ValidationError("--readers and --writers must each be at least 1, and together at most \(ThreadCounts.maximum)")
            }
            guard threads == ThreadCounts([1]) else { throw ValidationError("--threads and --readers/--writers exclude each other") }
        }
        if let ops, ops < 0 { throw ValidationError("--ops must not be negative") }
        _ = try Pace(parsing: pace)
    }

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
            let (tracePath, header, name) = try prepare(workload, scratch: scratch)
            guard let total = try TraceReader.recordCount(path: tracePath) else {
                throw ValidationError("\(tracePath) has no trailer: the trace is cut off")
            }
            let synthesizer = ValueSynthesizer(seed: header.seed ?? seed, compressibility: compressibility)
            let executable = CommandLine.executablePath
            var plan = RunPlan(
                tracePath: tracePath, loadRecords: header.loadOperations, totalRecords: total, options: options,
                pace: pace, sampleInterval: interval, synthesizer: synthesizer, seed: seed, killPoints: killPoints,
                crashExecutable: executable,
                crashChild: CrashChildArguments(
                    tracePath: tracePath, durability: options.durability, seed: header.seed ?? seed,
                    compressibility: compressibility, settings: store.settings, degradation: degrade))
            plan.warmUp = warmup.flatMap(WarmUp.init(parsing:))
            plan.ageRounds = age
            plan.percentiles = percentiles.flatMap(PercentileList.parse) ?? []
            let latencyLogs = scratch + "/latency-logs-\(name)"
            try StorageDirectory.createPath(latencyLogs, fileSystem: PosixFileSystem())
            plan.latencyLogDirectory = latencyLogs
            var session = RunSession(engines: selected, plan: plan, layouts: layouts, repetitions: `repeat`, scratch: scratch)
            session.progress = progress
            session.objective = findMax ? try LatencyObjective(parsing: slo) : nil
            let (runs, overheads) = try session.run()
            if showProgress { print("\r\u{1B}[K", terminator: "") }
            let runOps = runs.first?.ops ?? 0
            var resultOptions = Results.Options(
                durability: options.durability.rawValue, pace: pace.description, repeat: `repeat`,
                valueCompressibility: compressibility, sampleIntervalS: interval,
                settings: options.settings, crashKillPoints: killPoints, degradation: degrade)
            resultOptions.valueSize = valueSize
            resultOptions.percentiles = plan.percentiles.isEmpty ? nil : plan.percentiles
            var machine = Results.Machine.current()
            if options.durability == .always {
                // On the stores' own device, after the engines: the limit one durable writer meets.
                let device = try Microbenchmarks.fsyncRates(seconds: 1, under: scratch)
                machine.fsyncOverwritePerS = device.overwrite
                machine.fsyncAppendPerS = device.append
            }
            var results = Results(
                tool: .init(version: ToolVersion.current, commit: ToolVersion.commit),
                machine: machine,
                workload: .init(name: name, source: header.source ?? workload, seed: header.seed ?? seed,
                                records: header.loadOperations, operations: total - header.loadOperations),
                options: resultOptions,
                runs: runs, invocation: invocation(workload: workload))
            results.date = ISO8601Time.now()
            let directory = try ResultsWriter.write(results, under: out, name: name, latencyLogs: latencyLogs)
            switch format {
            case .table:
                print("storebench \(ToolVersion.current) run: \(name) (\(results.workload.source)), \(header.loadOperations) load + \(total - header.loadOperations) run trace records, \(runOps) measured ops, durability \(options.durability.rawValue), pace \(pace), threads \(layouts.map(\.description).joined(separator: ", ")), seed \(results.workload.seed)\n")
                print(SummaryTable.make(results).render())
                if let repeated = SummaryTable.repetitions(results) {
                    print("\nover the repetitions: median, and the 95% confidence interval of the mean (Student's t)")
                    print(repeated.render())
                }
                let maxima = results.runs.filter { $0.maximumRate != nil }
                if !maxima.isEmpty {
                    print("\nhighest rate within \(slo), open loop (latency from when each operation was due):")
                    print(SummaryTable.maximumRates(results).render())
                }
                if let overwrite = results.machine.fsyncOverwritePerS {
                    print("\n" + SummaryTable.deviceLimit(results, overwriteRate: overwrite))
                }
                for (layout, overhead) in overheads {
                    print("harness overhead\(layouts.count > 1 || layout != .threads(1) ? " at \(layout)" : ""): \(NumberFormat.fixed(overhead, places: 0)) ns per operation (the same replay against a store that does nothing)")
                }
                let logs = results.runs.compactMap(\.latencyLog).count
                print("wrote \(directory)/results.json, timeseries.csv, report.html\(logs > 0 ? " and \(logs) HdrHistogram interval log\(logs == 1 ? "" : "s") (.hlog)" : "")")
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

    /// The arguments that select what this run measured (not where output goes or how it looks),
    /// rebuilt from the parsed options, so `baseline check` can run it again exactly.
    func invocation(workload: String) -> [String] {
        var arguments = [workload, "--engines", engines, "--seed", String(seed), "--pace", pace,
                         "--repeat", String(`repeat`), "--kill-points", String(killPoints), "--interval", String(interval),
                         "--compressibility", String(compressibility), "--durability", (store.durability ?? .none).rawValue]
        if let records { arguments += ["--records", String(records)] }
        if let ops { arguments += ["--ops", String(ops)] }
        if let valueSize { arguments += ["--value-size", String(valueSize)] }
        if let readers, let writers {
            arguments += ["--readers", String(readers), "--writers", String(writers)]
        } else {
            arguments += ["--threads", threads.defaultValueDescription]
        }
        for setting in store.settings { arguments += ["--set", setting] }
        if let degrade { arguments += ["--degrade", degrade] }
        if let warmup { arguments += ["--warmup", warmup] }
        if age > 0 { arguments += ["--age", String(age)] }
        if let percentiles { arguments += ["--percentiles", percentiles] }
        if findMax { arguments += ["--find-max", "--slo", slo] }
        return arguments
    }

    /// The workload as a trace, with `--records`, `--ops` and `--value-size` applied to specs.
    func prepare(_ workload: String, scratch: String) throws -> (path: String, header: TraceHeader, name: String) {
        var overrides: [String: String] = [:]
        if let records { overrides["recordcount"] = String(records); overrides["num"] = String(records) }
        if let ops { overrides["operationcount"] = String(ops) }
        if let valueSize {
            overrides["fieldcount"] = "1"
            overrides["fieldlength"] = String(valueSize)
            overrides["valuesize"] = String(valueSize)
        }
        return try WorkloadCommand.materialize(workload, seed: seed, overrides: overrides, scratch: scratch)
    }
}

extension Results.Machine {
    static func current() -> Results.Machine {
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

extension CommandLine {
    /// This executable, for starting child processes of itself.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
    }
}
