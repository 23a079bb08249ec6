// What a run prints, the invocation it records for baselines, and how a workload becomes a trace.
import ArgumentParser
import Foundation
import Replay
import Report
import ResultsSchema
import StoreCore
import Workload

extension RunCommand {
    /// The table a run prints: the summary, repetitions, `--find-max` rates, the device's fsync
    /// limit, the harness's cost, and where the outputs went.
    func printTable(_ results: Results, header: TraceHeader, total: Int, runOps: Int, options: StoreOptions, pace: Pace,
                    layouts: [WorkerLayout], overheads: [(layout: WorkerLayout, nanoseconds: Double)], directory: String) {
        let name = results.workload.name
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
        if let from { arguments += ["--from", from.rawValue] }
        return arguments + importing.arguments + controls.arguments
    }

    /// The workload as a trace, with `--records`, `--ops` and `--value-size` applied to specs.
    func prepare(_ workload: String, scratch: String) throws -> WorkloadMaterializer.Materialized {
        var overrides: [String: String] = [:]
        if let records { overrides["recordcount"] = String(records); overrides["num"] = String(records) }
        if let ops { overrides["operationcount"] = String(ops) }
        if let valueSize {
            overrides["fieldcount"] = "1"
            overrides["fieldlength"] = String(valueSize)
            overrides["valuesize"] = String(valueSize)
        }
        let materialized = try WorkloadMaterializer.materialize(
            workload, seed: seed, overrides: overrides, scratch: scratch,
            input: .init(format: from, importing: importing.options, controls: try controls.controls(seed: seed)))
        for warning in materialized.warnings { printWarning(warning) }
        return materialized
    }
}

extension CommandLine {
    /// This executable, for starting child processes of itself.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
    }
}
