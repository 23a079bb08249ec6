import ResultsSchema
import StoreCore

/// The terminal comparison: one row per engine (and repetition), the figures side by side.
public enum SummaryTable {
    /// Under durability `always`: each run's commits per second beside the device's overwrite +
    /// fdatasync rate measured in the same run (one durable writer cannot beat it; group commit
    /// with several can).
    public static func deviceLimit(_ results: Results, overwriteRate: Double) -> String {
        var table = TextTable(headers: ["engine", "threads", "commits/s", "÷ overwrite + fdatasync"])
        for run in results.runs {
            guard let commits = run.io.commits, commits > 0, run.elapsedS > 0 else { continue }
            let rate = Double(commits) / run.elapsedS
            table.append([run.engine, run.threadLabel, NumberFormat.grouped(rate),
                          overwriteRate > 0 ? NumberFormat.fixed(rate / overwriteRate, places: 2) + "×" : "–"])
        }
        let append = results.machine.fsyncAppendPerS.map { ", 4 KiB append + fdatasync \(NumberFormat.grouped($0))/s" } ?? ""
        return "device: 4 KiB overwrite + fdatasync \(NumberFormat.grouped(overwriteRate))/s\(append) (measured after the engines, in the stores' directory)\n"
            + table.render()
    }

    /// The latency columns: `--percentiles` when the run asked for them, else p50, p99, p99.9.
    static func latencyColumns(_ results: Results) -> [(label: String, value: (Results.Latency) -> Double?)] {
        if let asked = results.options.percentiles, !asked.isEmpty {
            return asked.map { percentile in
                let label = PercentileLabel.of(percentile)
                return (label, { $0.percentiles?[label] })
            }
        }
        return [("p50", { $0.p50 }), ("p99", { $0.p99 }), ("p99.9", { $0.p999 })]
    }

    public static func make(_ results: Results) -> TextTable {
        let latency = latencyColumns(results)
        var table = TextTable(headers: [
            "engine", "threads", "ops/s", "CPU µs/op", "dev reads/op", "cache hits"] + latency.map { "\($0.label) µs" } + ["max µs", "space amp mean/max", "write amp", "fsyncs",
            "fsyncs/commit", "max pause", "stalled", "clean open", "crash open", "lost", "partial", "jemalloc", peakHeader(results),
        ])
        let repeated = results.runs.contains { $0.repetition > 1 }
        for run in results.runs {
            let all = run.byOp["all"]
            table.append([
                repeated ? "\(run.engine) #\(run.repetition)" : run.engine,
                run.threadLabel,
                NumberFormat.grouped(run.opsPerS),
                run.resources?.cpuUsPerOp.map { NumberFormat.fixed($0, places: 2) } ?? "–",
                run.resources?.deviceReadsPerOp.map { NumberFormat.fixed($0, places: 3) } ?? "–",
                run.cache?.hitRate.map { NumberFormat.fixed($0 * 100, places: 1) + "%" } ?? "–",
            ] + latency.map { column in
                all.flatMap { column.value($0.latencyUs) }.map { NumberFormat.fixed($0, places: 1) } ?? "-"
            } + [
                all.map { NumberFormat.fixed($0.latencyUs.max, places: 1) } ?? "-",
                run.disk.spaceAmpMean.flatMap { mean in run.disk.spaceAmpMax.map { NumberFormat.fixed(mean, places: 2) + "/" + NumberFormat.fixed($0, places: 2) } }
                    ?? run.disk.spaceAmp.map { NumberFormat.fixed($0, places: 2) } ?? "-",
                run.io.writeAmp.map { NumberFormat.fixed($0, places: 2) } ?? "-",
                run.io.fsyncs.map { NumberFormat.grouped(Double($0)) } ?? "–",
                run.io.fsyncsPerCommit.map { NumberFormat.fixed($0, places: 3) } ?? "–",
                run.pauses.map { $0.count > 0 ? NumberFormat.fixed($0.maxMs, places: 1) + " ms" : "0" } ?? "–",
                run.pauses.map { NumberFormat.fixed($0.stalledFraction * 100, places: 1) + "%" } ?? "–",
                run.recovery.cleanOpenMs.map { NumberFormat.fixed($0, places: 1) + " ms" } ?? "-",
                run.recovery.crashOpenMs.map { NumberFormat.fixed($0, places: 1) + " ms" } ?? "-",
                run.recovery.lostCommits.map { String($0) } ?? "-",
                run.recovery.partialBatches.map { String($0) } ?? "-",
                run.memory.allocatedBytes.map(ByteSize.format) ?? "-",
                ByteSize.format(run.memory.peakRssBytes),
            ])
        }
        return table
    }

    /// With `--repeat N` (N ≥ 2): per engine and thread count, the median of each headline figure
    /// over the repetitions and the 95% confidence interval of its mean (Student's t), so a
    /// reader sees how sure a figure is; `nil` when nothing repeated.
    public static func repetitions(_ results: Results) -> TextTable? {
        var groups: [(key: String, runs: [Results.Run])] = []
        for run in results.runs {
            let key = run.engine + "\u{0}" + run.threadLabel
            if let index = groups.firstIndex(where: { $0.key == key }) { groups[index].runs.append(run) } else { groups.append((key, [run])) }
        }
        guard groups.contains(where: { $0.runs.count >= 2 }) else { return nil }
        let latency = latencyColumns(results)
        var table = TextTable(headers: ["engine", "threads", "runs", "ops/s median", "ops/s 95% CI"]
            + latency.flatMap { ["\($0.label) µs median", "\($0.label) 95% CI"] })
        func cells(_ values: [Double], places: Int, grouped: Bool) -> [String] {
            let format = { (value: Double) in grouped ? NumberFormat.grouped(value) : NumberFormat.fixed(value, places: places) }
            let interval = SampleStatistics.meanConfidence95(values).map { "\(format(max(0, $0.mean - $0.halfWidth)))–\(format($0.mean + $0.halfWidth))" } ?? "–"
            return [format(SampleStatistics.median(values)), interval]
        }
        for group in groups where group.runs.count >= 2 {
            var row = [group.runs[0].engine, group.runs[0].threadLabel, String(group.runs.count)]
            row += cells(group.runs.map(\.opsPerS), places: 0, grouped: true)
            for column in latency {
                row += cells(group.runs.compactMap { $0.byOp["all"].flatMap { column.value($0.latencyUs) } }, places: 1, grouped: false)
            }
            table.append(row)
        }
        return table
    }

    /// `--find-max`: per engine the highest rate that held the objective, the lowest rate above
    /// it that did not (the true maximum lies between: the search's precision), and — when no
    /// rate held — the lowest rate tried and its latency, so an unreachable objective says how
    /// far off it was.
    public static func maximumRates(_ results: Results) -> TextTable {
        var table = TextTable(headers: ["engine", "threads", "max ops/s", "failed at ops/s", "unpaced ops/s", "rates tried"])
        for run in results.runs {
            guard let found = run.maximumRate else { continue }
            let held = found.maxOpsPerS
            let failedAbove = found.probes.filter { !$0.passed && $0.offeredOpsPerS > (held ?? 0) }.map(\.offeredOpsPerS).min()
            var maximum = held.map(NumberFormat.grouped) ?? "none held"
            if held == nil, let lowest = found.probes.first {
                let latency = lowest.latencyUs.map { NumberFormat.fixed($0, places: 1) + " µs" } ?? "no latency"
                maximum += " (lowest tried \(NumberFormat.grouped(lowest.offeredOpsPerS)) ops/s: \(latency))"
            }
            table.append([run.engine, run.threadLabel, maximum, failedAbove.map(NumberFormat.grouped) ?? "–",
                          NumberFormat.grouped(run.opsPerS), String(found.probes.count)])
        }
        return table
    }

    /// "peak RSS (engine)" when every run's peak is its own engine's, else "(process)".
    static func peakHeader(_ results: Results) -> String {
        results.runs.allSatisfy { $0.memory.peakRssScope == "engine" } ? "peak RSS (engine)" : "peak RSS (process)"
    }

    /// The same figures as a Markdown table (for pull-request comments).
    public static func markdown(_ results: Results) -> String {
        let table = make(results)
        var lines = ["| " + table.headers.joined(separator: " | ") + " |",
                     "|" + table.headers.indices.map { $0 == 0 ? "---" : "---:" }.joined(separator: "|") + "|"]
        for row in table.rows { lines.append("| " + row.joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One CSV row per engine run with the headline figures.
    public static func csv(_ results: Results) -> String {
        var lines = ["engine,repetition,ops,elapsed_s,ops_per_s,p50_us,p99_us,p999_us,space_amp,write_amp,fsyncs,pause_count,max_pause_ms,stalled_fraction,clean_open_ms,crash_open_ms,lost_commits,peak_rss_bytes,threads,fsyncs_per_commit,max_us,partial_batches"]
        for run in results.runs {
            let all = run.byOp["all"]
            let fields: [String] = [
                csvField(run.engine), String(run.repetition), String(run.ops), String(run.elapsedS), String(run.opsPerS),
                all.map { String($0.latencyUs.p50) } ?? "", all.map { String($0.latencyUs.p99) } ?? "",
                all.map { String($0.latencyUs.p999) } ?? "", run.disk.spaceAmp.map { String($0) } ?? "",
                run.io.writeAmp.map { String($0) } ?? "", run.io.fsyncs.map { String($0) } ?? "",
                run.pauses.map { String($0.count) } ?? "", run.pauses.map { String($0.maxMs) } ?? "",
                run.pauses.map { String($0.stalledFraction) } ?? "",
                run.recovery.cleanOpenMs.map { String($0) } ?? "", run.recovery.crashOpenMs.map { String($0) } ?? "",
                run.recovery.lostCommits.map { String($0) } ?? "", String(run.memory.peakRssBytes),
                run.threadLabel, run.io.fsyncsPerCommit.map { String($0) } ?? "",
                all.map { String($0.latencyUs.max) } ?? "", run.recovery.partialBatches.map { String($0) } ?? "",
            ]
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `timeseries.csv`: one row per engine run and sample.
    /// A CSV field, quoted when it holds a comma or a quote (a variant's name does:
    /// `log[format=jsonl,deletes=tombstone-file]`).
    static func csvField(_ text: String) -> String {
        guard text.contains(",") || text.contains("\"") else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func timeseriesCSV(_ results: Results) -> String {
        var lines = ["engine,repetition,t_s,ops_per_s,p99_us,disk_bytes,allocated_disk_bytes,threads,p50_us,p999_us,max_us"]
        for run in results.runs {
            let series = run.timeseries
            func cell<T>(_ values: [T]?, _ index: Int) -> String {
                guard let values, index < values.count else { return "" }
                return "\(values[index])"
            }
            for index in series.t.indices {
                lines.append("\(csvField(run.engine)),\(run.repetition),\(series.t[index]),\(series.opsPerS[index]),\(series.p99Us[index]),"
                             + "\(cell(series.diskBytes, index)),\(cell(series.allocatedDiskBytes, index)),\(run.threadLabel),"
                             + "\(cell(series.p50Us, index)),\(cell(series.p999Us, index)),\(cell(series.maxUs, index))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
