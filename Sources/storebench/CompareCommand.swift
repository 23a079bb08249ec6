import ArgumentParser
import Foundation
import Replay
import Report
import ResultsSchema
import StoreCore

extension Comparison.MetricClass: ExpressibleByArgument {}

/// Options `compare` and `baseline check` share.
struct ComparisonOptions: ParsableArguments {
    @Option(help: "Thresholds past which a change counts: time=10%,bytes=1%,memory=10% (any subset).")
    var threshold = "time=10%,bytes=1%,memory=10%"

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, markdown, json }

    @Option(help: "Output: table, markdown or json.")
    var format: Format = .table

    @Option(parsing: .upToNextOption, help: "Metric classes to compare: timing, deterministic, memory, durability (default: all).")
    var metrics: [Comparison.MetricClass] = Comparison.MetricClass.allCases

    @Flag(help: "Compare an engine's runs even when the two results ran it with different thread counts.")
    var allowDifferentThreads = false

    @Flag(help: "Compare even when durability, pace, value sizes, compressibility, settings or thread counts differ.")
    var force = false

    /// Prints the comparison and exits 0 (no regression) or 1 (regression).
    func report(baseline: Results, new: Results) throws {
        let comparison: Comparison
        do {
            comparison = try Comparison(baseline: baseline, new: new, thresholds: try Comparison.Thresholds(parsing: threshold),
                                        classes: Set(metrics), allowDifferentThreads: allowDifferentThreads, force: force)
        } catch let error as ComparisonError {
            unusable(error.description)
        }
        switch format {
        case .markdown: print(comparison.markdown(), terminator: "")
        case .json: print(String(decoding: try comparison.json(), as: UTF8.self))
        case .table:
            print(comparison.table().render(), terminator: "")
            print(comparison.regressions.isEmpty ? "\nno regression" : "\n\(comparison.regressions.count) regression(s)")
        }
        if !comparison.regressions.isEmpty { throw ExitCode(1) }
    }
}

/// Exit code 2: the input cannot be compared.
func unusable(_ message: String) -> Never {
    var standardError = StandardError()
    print("storebench: \(message)", to: &standardError)
    CompareCommand.exit(withError: ExitCode(2))
}

/// Reads a results file, or exits 2 naming what is wrong with it.
func loadResults(_ path: String) -> Results {
    guard let data = FileManager.default.contents(atPath: path) else { unusable("cannot read \(path)") }
    guard let results = try? Results.decode(data) else { unusable("\(path) is not a storebench results file (\(Results.schemaName))") }
    guard results.schema == Results.schemaName else { unusable("\(path) has schema \(results.schema); this storebench reads \(Results.schemaName)") }
    return results
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two results files and say which changes are regressions.",
        discussion: """
            Runs are matched by engine (the workloads must be the same). Per metric: baseline and new \
            (medians over repetitions), change, and a verdict with its reason. Timing metrics are \
            regressions only when past the time threshold and a two-sided exact Mann–Whitney U test of the \
            repetitions gives p < 0.01 (needs --repeat 5 or more a side); lost commits and partial batches \
            in any repetition are regressions; \
            deterministic metrics (file bytes written, fsyncs, bytes on disk, maintenance events) are \
            compared strictly. Exit codes: 0 no regression, 1 regression, 2 unusable input.
            """
    )

    @Argument(help: "The baseline results.json.")
    var baseline: String

    @Argument(help: "The new results.json.")
    var new: String

    @OptionGroup var comparison: ComparisonOptions

    func run() throws {
        try comparison.report(baseline: loadResults(baseline), new: loadResults(new))
    }
}

struct BaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline",
        abstract: "Save results as a named baseline, or run a baseline's workload again and compare.",
        subcommands: [Save.self, Check.self]
    )

    struct Save: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Save a results.json as DIRECTORY/NAME.json (committed, for CI).")

        @Argument(help: "Baseline name.")
        var name: String

        @Argument(help: "The results.json to save (default: the newest under Results/runs).")
        var results: String?

        @Option(help: "Where baselines live.")
        var directory = "Results/baselines"

        func run() throws {
            let source = try results ?? newestResults()
            let loaded = loadResults(source)
            guard loaded.invocation != nil else { unusable("\(source) does not record the run's arguments, so it cannot be checked again") }
            let target = directory + "/\(name).json"
            try StorageDirectory.createPath(directory, fileSystem: PosixFileSystem())
            try StorageDirectory(path: directory, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
                .writeAtomically("\(name).json", contents: Array(try loaded.encoded()) + [10])
            print("saved \(source) as baseline \(target)")
        }

        func newestResults() throws -> String {
            let runs = "Results/runs"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: runs))?.sorted() ?? []
            guard let newest = names.last(where: { FileManager.default.fileExists(atPath: "\(runs)/\($0)/results.json") }) else {
                unusable("no results under \(runs): run `storebench run` first or name a results.json")
            }
            return "\(runs)/\(newest)/results.json"
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the baseline's recorded workload and options again and compare with it.",
            discussion: "In CI, `--metrics deterministic` compares only what does not depend on machine speed. Exit codes as for compare."
        )

        @Argument(help: "Baseline name.")
        var name: String

        @Option(help: "Where baselines live.")
        var directory = "Results/baselines"

        @OptionGroup var comparison: ComparisonOptions

        func run() throws {
            let baseline = loadResults(directory + "/\(name).json")
            guard let invocation = baseline.invocation else { unusable("baseline \(name) does not record the run's arguments") }
            let out = NSTemporaryDirectory() + "storebench-baseline-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: out) }
            let (status, output) = try ChildProcess.run(
                CommandLine.executablePath, ["run"] + invocation + ["--out", out, "--format", "json", "--no-progress"], output: .captureOutput)
            guard status == 0 else { unusable("running the baseline's workload failed (exit \(status))") }
            guard let new = try? Results.decode(output) else { unusable("the new run printed no results") }
            print("baseline \(name): storebench run \(invocation.joined(separator: " "))\n")
            try comparison.report(baseline: baseline, new: new)
        }
    }
}
