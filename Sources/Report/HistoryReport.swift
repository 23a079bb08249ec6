import Foundation
import ResultsSchema
import StoreCore

/// `storebench history DIR`: one HTML page with each figure's trend per engine across a folder of
/// results files (as CI keeps them, one per commit), and rings where `compare` between two
/// neighbouring results would have flagged a regression (red) or an improvement (green).
public enum HistoryReport {
    /// One results file and where it came from.
    public struct Entry {
        public var path: String
        public var results: Results
        /// `date` from the file, else the file's modification time.
        public var date: String

        /// The x-axis label: the commit, the day and the minute (`6cb36e2 12-04 21:19`).
        var label: String {
            let characters = Array(date)
            let when = characters.count >= 16 ? String(characters[5..<10]) + " " + String(characters[11..<16]) : date
            return results.tool.commit == "unknown" ? when : "\(results.tool.commit) \(when)"
        }
    }

    /// Every `results.json` (or other `*.json` that decodes as results) under `directory`, oldest
    /// first. Other JSON files are skipped; a `results.json` that does not decode is an error
    /// naming it.
    public static func load(directory: String) throws -> [Entry] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw ComparisonError.unusable("\(directory): not a directory that can be read")
        }
        var entries: [Entry] = []
        for case let relative as String in walker where relative.hasSuffix(".json") {
            let path = directory + "/" + relative
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let results: Results
            do {
                results = try Results.decode(data)
            } catch {
                guard relative.hasSuffix("results.json") else { continue }
                throw ComparisonError.unusable("\(path): not readable as \(Results.schemaName): \(error)")
            }
            let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? nil
            let fallback = modified.map { ISO8601DateFormatter().string(from: $0) } ?? ""
            entries.append(Entry(path: path, results: results, date: results.date ?? fallback))
        }
        return entries.sorted { ($0.date, $0.path) < ($1.date, $1.path) }
    }

    /// A workload's identity: only results of the same workload are drawn on one axis.
    public static func workloadKey(_ results: Results) -> String {
        "\(results.workload.name) (seed \(results.workload.seed), \(results.workload.records) + \(results.workload.operations) operations)"
    }

    /// The series an engine run belongs to, named as `compare` names its rows.
    static func seriesName(_ run: Results.Run) -> String {
        run.threadLabel == "1" ? run.engine : "\(run.engine), \(run.threadLabel) threads"
    }

    public static func render(_ entries: [Entry]) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>storebench history</title>
            <style>
            body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
            h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; margin-top: 1.5em; }
            .meta { color: #555; font-size: 0.9em; }
            .legend span { display: inline-block; margin-right: 1.5em; }
            .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }
            svg text { font-size: 11px; fill: #444; }
            </style></head><body>
            <h1>storebench history</h1>
            <p class="meta">\(entries.count) results files. Each chart: one line per engine (median over repetitions), one point per \
            results file in date order. A red ring marks a change `storebench compare` would call a regression against the file \
            before it, a green ring an improvement (hover for the reason).</p>

            """
        var groups: [(key: String, entries: [Entry])] = []
        for entry in entries {
            let key = workloadKey(entry.results)
            if let index = groups.firstIndex(where: { $0.key == key }) { groups[index].entries.append(entry) } else { groups.append((key, [entry])) }
        }
        for group in groups {
            html += "<h2>\(HTMLReport.escape(group.key))</h2>\n"
            html += section(group.entries)
        }
        return html + "</body></html>\n"
    }

    /// The charts of one workload's results, oldest first.
    static func section(_ entries: [Entry]) -> String {
        let names = entries.flatMap { $0.results.runs.map(seriesName) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let colors = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, HTMLReport.palette[$0 % HTMLReport.palette.count]) })
        // What compare says about each file against the one before it.
        var verdicts: [Int: [Comparison.Row]] = [:]
        var notes: [String] = []
        for index in entries.indices.dropFirst() {
            do {
                verdicts[index] = try Comparison(baseline: entries[index - 1].results, new: entries[index].results).rows
            } catch {
                notes.append("\(entries[index].label): not compared with the file before it: \(error)")
            }
        }
        var html = "<p class=\"legend\">" + names.map { "<span><span class=\"swatch\" style=\"background:\(colors[$0]!)\"></span>\(HTMLReport.escape($0))</span>" }.joined() + "</p>\n"
        for note in notes { html += "<p class=\"meta\">\(HTMLReport.escape(note))</p>\n" }
        let ticks = entries.indices.map(Double.init)
        for metric in Comparison.metrics {
            var series: [LineChart.Series] = []
            var markers: [(x: Double, y: Double, color: String, title: String)] = []
            for name in names {
                var points: [(Double, Double)] = []
                for (index, entry) in entries.enumerated() {
                    let values = entry.results.runs.filter { seriesName($0) == name }.compactMap(metric.value)
                    guard !values.isEmpty else { continue }
                    let value = SampleStatistics.median(values)
                    points.append((Double(index), value))
                    if let row = verdicts[index]?.first(where: { $0.engine == name && $0.metric == metric.name }),
                       row.verdict == .regression || row.verdict == .improvement {
                        markers.append((Double(index), value, row.verdict == .regression ? "#d62728" : "#2ca02c",
                                        "\(name) \(metric.name): \(row.verdict.rawValue), \(row.reason)"))
                    }
                }
                series.append(LineChart.Series(name: name, color: colors[name]!, points: points))
            }
            guard series.contains(where: { !$0.points.isEmpty }) else { continue }
            var chart = LineChart(title: metric.name, unit: metric.name, maxX: max(Double(entries.count - 1), 1), series: series,
                                  format: { $0 >= 1000 ? NumberFormat.grouped($0) : NumberFormat.fixed($0, places: $0 < 10 ? 2 : 1) })
            chart.xTicks = ticks
            chart.xTickLabels = entries.map(\.label)
            chart.xLabel = "results, oldest first"
            chart.markPoints = true
            chart.markers = markers
            chart.height = 220
            html += "<h3>\(HTMLReport.escape(metric.name))\(metric.lowerIsBetter ? " (lower is better)" : " (higher is better)")</h3>\n" + chart.svg()
        }
        return html
    }
}
