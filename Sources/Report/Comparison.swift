import Foundation
import ResultsSchema

/// Compares two results files run by run and metric by metric, and says — with its reason — which
/// changes are regressions. Used by `storebench compare` and `storebench baseline check`.
///
/// Metric classes:
/// - **timing** (throughput, latency percentiles, open times): noisy. A change is a regression only
///   when the medians differ by more than the time threshold *and* a two-sided exact Mann–Whitney U
///   test of the repetitions gives p < `alpha` (0.01: the false-alarm rate of a change that passed
///   the threshold by chance). That needs at least five repetitions a side (`run --repeat 5`);
///   with fewer, a change past the threshold is reported as noise.
/// - **deterministic** (file bytes written, fsyncs, bytes on disk, maintenance events): for a
///   fixed seed they do not depend on machine speed, so they are compared strictly against the
///   bytes threshold — CI can catch a regression even where timings are noise.
/// - **memory** (jemalloc allocated bytes, peak RSS): against the memory threshold, and like timing
///   only when the repetitions separate (allocation and RSS vary from run to run).
/// - **durability** (lost commits, partial batches): any loss in any repetition is a regression.
public struct Comparison: Sendable {
    public enum MetricClass: String, Sendable, CaseIterable, Codable {
        case timing, deterministic, memory, durability
    }

    public enum Verdict: String, Sendable, Codable {
        case regression, improvement, unchanged, noise
        /// The engine ran only in the new results, or only in the baseline.
        case added, removed
    }

    public struct Thresholds: Sendable, Equatable {
        public var time = 0.10
        public var bytes = 0.01
        public var memory = 0.10

        public init() {}

        /// Parses `time=10%,bytes=1%,memory=0.1` (percent or fraction).
        public init(parsing text: String) throws {
            for part in text.split(separator: ",") {
                let pieces = part.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
                guard pieces.count == 2 else { throw ComparisonError.unusable("threshold `\(part)` is not NAME=VALUE") }
                let number = pieces[1].hasSuffix("%") ? Double(pieces[1].dropLast()).map { $0 / 100 } : Double(pieces[1])
                guard let value = number, value >= 0 else { throw ComparisonError.unusable("threshold `\(part)`: `\(pieces[1])` is not a percentage") }
                switch pieces[0] {
                case "time": time = value
                case "bytes": bytes = value
                case "memory": memory = value
                default: throw ComparisonError.unusable("unknown threshold `\(pieces[0])` (time, bytes, memory)")
                }
            }
        }
    }

    public struct Row: Sendable, Codable, Equatable {
        public var engine: String
        public var metric: String
        public var metricClass: MetricClass
        /// Medians over the repetitions.
        public var baseline: Double?
        public var new: Double?
        /// (new − baseline) / baseline.
        public var change: Double?
        public var verdict: Verdict
        public var reason: String
    }

    public let rows: [Row]
    public var regressions: [Row] { rows.filter { $0.verdict == .regression } }

    struct Metric: Sendable {
        let name: String
        let metricClass: MetricClass
        let lowerIsBetter: Bool
        let value: @Sendable (Results.Run) -> Double?
        /// A counter of the deterministic class that these runs could not make deterministic.
        var noisyCounter = false
    }

    static let metrics: [Metric] = [
        Metric(name: "ops_per_s", metricClass: .timing, lowerIsBetter: false) { $0.opsPerS },
        Metric(name: "p50_us", metricClass: .timing, lowerIsBetter: true) { $0.byOp["all"]?.latencyUs.p50 },
        Metric(name: "p99_us", metricClass: .timing, lowerIsBetter: true) { $0.byOp["all"]?.latencyUs.p99 },
        Metric(name: "p999_us", metricClass: .timing, lowerIsBetter: true) { $0.byOp["all"]?.latencyUs.p999 },
        Metric(name: "clean_open_ms", metricClass: .timing, lowerIsBetter: true) { $0.recovery.cleanOpenMs },
        Metric(name: "crash_open_ms", metricClass: .timing, lowerIsBetter: true) { $0.recovery.crashOpenMs },
        Metric(name: "file_bytes_written", metricClass: .deterministic, lowerIsBetter: true) { Double($0.io.fileBytesWritten) },
        Metric(name: "fsyncs", metricClass: .deterministic, lowerIsBetter: true) { $0.io.fsyncs.map(Double.init) },
        Metric(name: "disk_final_bytes", metricClass: .deterministic, lowerIsBetter: true) { Double($0.disk.finalBytes) },
        Metric(name: "maintenance_events", metricClass: .deterministic, lowerIsBetter: true) { Double($0.events.count) },
        Metric(name: "jemalloc_allocated_bytes", metricClass: .memory, lowerIsBetter: true) { $0.memory.allocatedBytes.map(Double.init) },
        Metric(name: "peak_rss_bytes", metricClass: .memory, lowerIsBetter: true) { Double($0.memory.peakRssBytes) },
        Metric(name: "lost_commits", metricClass: .durability, lowerIsBetter: true) { $0.recovery.lostCommits.map(Double.init) },
        Metric(name: "partial_batches", metricClass: .durability, lowerIsBetter: true) { $0.recovery.partialBatches.map(Double.init) },
    ]

    /// Runs are compared per engine and thread layout (`lsm, 4 threads`): throughput at four
    /// threads is not a regression of throughput at one.
    /// - Parameters:
    ///   - allowDifferentThreads: compare an engine's runs even when the two files ran it with
    ///     different thread counts (all of its runs on each side are then taken together).
    ///   - force: compare even when durability, pace, value sizes, compressibility, settings or
    ///     thread counts differ.
    /// - Throws: `ComparisonError.unusable` when the two files did not run the same workload, or
    ///   ran an engine with different thread counts and that was not allowed.
    public init(baseline: Results, new: Results, thresholds: Thresholds = Thresholds(),
                classes: Set<MetricClass> = Set(MetricClass.allCases), allowDifferentThreads: Bool = false, force: Bool = false) throws {
        guard baseline.workload.name == new.workload.name, baseline.workload.seed == new.workload.seed,
              baseline.workload.operations == new.workload.operations, baseline.workload.records == new.workload.records else {
            throw ComparisonError.unusable(
                "the results ran different workloads: \(Self.describe(baseline.workload)) vs \(Self.describe(new.workload))")
        }
        if !force {
            // What else makes figures incomparable: say which and refuse.
            var differences: [String] = []
            func differ(_ name: String, _ a: String, _ b: String) { if a != b { differences.append("\(name) \(a) vs \(b)") } }
            differ("durability", baseline.options.durability, new.options.durability)
            differ("pace", baseline.options.pace, new.options.pace)
            differ("value size", baseline.options.valueSize.map(String.init) ?? "as specified", new.options.valueSize.map(String.init) ?? "as specified")
            differ("value compressibility", String(baseline.options.valueCompressibility), String(new.options.valueCompressibility))
            differ("settings", Self.describe(baseline.options.settings), Self.describe(new.options.settings))
            if !differences.isEmpty {
                throw ComparisonError.unusable("the results ran with different options: \(differences.joined(separator: "; ")) (pass --force to compare them anyway)")
            }
        }
        if !allowDifferentThreads && !force {
            for engine in Set(baseline.runs.map(\.engine)).intersection(new.runs.map(\.engine)).sorted() {
                let before = Set(baseline.runs.filter { $0.engine == engine }.map(\.threadLabel))
                let after = Set(new.runs.filter { $0.engine == engine }.map(\.threadLabel))
                if before != after {
                    throw ComparisonError.unusable(
                        "\(engine) ran with \(before.sorted().joined(separator: ", ")) thread(s) in the baseline and with "
                            + "\(after.sorted().joined(separator: ", ")) in the new results; figures at different thread counts "
                            + "are not comparable (pass --allow-different-threads to compare them anyway)")
                }
            }
        }
        let mixThreads = allowDifferentThreads || force
        func group(_ run: Results.Run) -> String {
            mixThreads || run.threadLabel == "1" ? run.engine : "\(run.engine), \(run.threadLabel) threads"
        }
        var rows: [Row] = []
        let engines = (baseline.runs.map(group) + new.runs.map(group)).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        for engine in engines {
            let before = baseline.runs.filter { group($0) == engine }
            let after = new.runs.filter { group($0) == engine }
            guard !before.isEmpty, !after.isEmpty else {
                rows.append(Row(engine: engine, metric: "-", metricClass: .timing, baseline: nil, new: nil, change: nil,
                                verdict: before.isEmpty ? .added : .removed,
                                reason: before.isEmpty ? "not in the baseline" : "not in the new results"))
                continue
            }
            // Counters that depend on timing (several threads, a library's kernel-counted writes)
            // are judged like memory: against the bytes threshold, and only when repetitions separate.
            let deterministic = (before + after).allSatisfy { $0.deterministicCounters ?? true }
            for metric in Self.metrics where classes.contains(metric.metricClass) {
                let a = before.compactMap(metric.value)
                let b = after.compactMap(metric.value)
                guard !a.isEmpty, !b.isEmpty else { continue }
                var judged = metric
                if metric.metricClass == .deterministic && !deterministic {
                    judged = Metric(name: metric.name, metricClass: .memory, lowerIsBetter: metric.lowerIsBetter, value: metric.value)
                    judged.noisyCounter = true
                }
                var row = Self.judge(engine: engine, metric: judged, a, b, thresholds)
                if judged.noisyCounter { row.metricClass = .deterministic; row.reason = "timing-dependent counter: " + row.reason }
                rows.append(row)
            }
        }
        self.rows = rows
    }

    static func describe(_ settings: [String: String]) -> String {
        settings.isEmpty ? "(none)" : settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    static func describe(_ workload: Results.Workload) -> String {
        "\(workload.name) seed \(workload.seed), \(workload.records)+\(workload.operations) operations"
    }

    static func judge(engine: String, metric: Metric, _ a: [Double], _ b: [Double], _ thresholds: Thresholds) -> Row {
        let before = median(a)
        let after = median(b)
        let change: Double? = before != 0 ? (after - before) / abs(before) : (after == 0 ? 0 : nil)
        var row = Row(engine: engine, metric: metric.name, metricClass: metric.metricClass, baseline: before, new: after,
                      change: change, verdict: .unchanged, reason: "")
        let worse = metric.lowerIsBetter ? after > before : after < before
        if metric.metricClass == .durability {
            // Any loss in any repetition is a regression, whatever the median or the baseline says.
            let worst = b.max() ?? 0
            row.new = worst
            row.change = before != 0 ? (worst - before) / abs(before) : (worst == 0 ? 0 : nil)
            if worst > 0 {
                row.verdict = .regression
                row.reason = "\(Int(worst)) in the worst of \(b.count) repetition(s): no loss is allowed"
            } else {
                row.verdict = (a.max() ?? 0) > 0 ? .improvement : .unchanged
                row.reason = "none in any repetition"
            }
            return row
        }
        let threshold = metric.metricClass == .timing ? thresholds.time
            : (metric.metricClass == .memory && !metric.noisyCounter ? thresholds.memory : thresholds.bytes)
        let magnitude = change.map(abs) ?? .infinity
        guard magnitude > threshold else {
            row.reason = "within ±\(percent(threshold))"
            return row
        }
        let direction: Verdict = worse ? .regression : .improvement
        // Timing and memory vary from run to run; only deterministic metrics are judged alone.
        guard metric.metricClass == .timing || metric.metricClass == .memory else {
            row.verdict = direction
            row.reason = "\(metric.metricClass.rawValue): past ±\(percent(threshold))"
            return row
        }
        // The exact two-sided Mann–Whitney p of two fully separated samples is 2 / C(n+m, n): 0.1
        // for 3 against 3, 0.008 for 5 against 5. Below `minimumRepetitions` a side no
        // separation can reach `alpha`, so the change cannot be told from noise.
        guard a.count >= minimumRepetitions, b.count >= minimumRepetitions else {
            row.verdict = .noise
            row.reason = "past ±\(percent(threshold)), but \(a.count) vs \(b.count) runs cannot be told from noise at p < \(alpha): use --repeat \(minimumRepetitions) or more"
            return row
        }
        let p = mannWhitneyP(a, b)
        if p < alpha {
            row.verdict = direction
            row.reason = "past ±\(percent(threshold)), Mann–Whitney p = \(String(format: "%.3f", p)) < \(alpha)"
        } else {
            row.verdict = .noise
            row.reason = "past ±\(percent(threshold)), but Mann–Whitney p = \(String(format: "%.3f", p)) ≥ \(alpha)"
        }
        return row
    }

    /// False-alarm rate of a timing or memory regression: the two-sided Mann–Whitney p must be
    /// below it (on top of the change passing its threshold).
    public static let alpha = 0.01
    /// Repetitions a side that can reach `alpha` at all (5 against 5: p = 0.008 when separated).
    public static let minimumRepetitions = 5

    static func percent(_ fraction: Double) -> String {
        let value = fraction * 100
        return (value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)) + "%"
    }

    static func median(_ values: [Double]) -> Double {
        SampleStatistics.median(values)
    }

    /// Two-sided p-value of the Mann–Whitney U test, from the exact distribution of U (no ties
    /// correction: timings rarely tie; ties count one half).
    static func mannWhitneyP(_ a: [Double], _ b: [Double]) -> Double {
        var u = 0.0
        for x in a { for y in b { u += x < y ? 1 : (x == y ? 0.5 : 0) } }
        let n = a.count, m = b.count
        // counts[k] = arrangements of n and m items with U = k, built up one item at a time.
        var table = [[[Double]]](repeating: [[Double]](repeating: [], count: m + 1), count: n + 1)
        for i in 0...n {
            for j in 0...m {
                if i == 0 || j == 0 {
                    table[i][j] = [1]
                    continue
                }
                var counts = [Double](repeating: 0, count: i * j + 1)
                for (k, c) in table[i - 1][j].enumerated() { counts[k + j] += c }
                for (k, c) in table[i][j - 1].enumerated() { counts[k] += c }
                table[i][j] = counts
            }
        }
        let counts = table[n][m]
        let total = counts.reduce(0, +)
        let low = counts.enumerated().filter { Double($0.offset) <= u }.map(\.element).reduce(0, +) / total
        let high = counts.enumerated().filter { Double($0.offset) >= u }.map(\.element).reduce(0, +) / total
        return min(1, 2 * min(low, high))
    }

    // MARK: Rendering

    public func table() -> TextTable {
        var table = TextTable(headers: ["engine", "metric", "baseline", "new", "change", "verdict", "why"],
                              alignments: [.left, .left, .right, .right, .right, .left, .left])
        for row in rows {
            table.append([
                row.engine, row.metric, row.baseline.map(Self.format) ?? "-", row.new.map(Self.format) ?? "-",
                row.change.map { (($0 >= 0 ? "+" : "") + NumberFormat.fixed($0 * 100, places: 1)) + "%" } ?? "-",
                row.verdict.rawValue, row.reason,
            ])
        }
        return table
    }

    public func markdown() -> String {
        let table = table()
        var lines = ["| " + table.headers.joined(separator: " | ") + " |",
                     "|" + table.headers.map { _ in "---" }.joined(separator: "|") + "|"]
        for row in table.rows {
            var cells = row
            if cells[5] == "regression" { cells[5] = "**regression**" }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        let summary = regressions.isEmpty ? "No regression." : "\(regressions.count) regression\(regressions.count == 1 ? "" : "s")."
        return summary + "\n\n" + lines.joined(separator: "\n") + "\n"
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(["regressions": regressions.count == 0 ? [] : regressions, "rows": rows])
    }

    static func format(_ value: Double) -> String {
        abs(value) >= 1000 ? NumberFormat.grouped(value) : NumberFormat.fixed(value, places: value == value.rounded() ? 0 : 2)
    }
}

public enum ComparisonError: Error, CustomStringConvertible {
    /// The input cannot be compared (exit code 2).
    case unusable(String)

    public var description: String {
        switch self {
        case let .unusable(reason): reason
        }
    }
}
