import Foundation
import ResultsSchema
import StoreCore

/// `report.html`: a self-contained page (inline CSS and SVG, no scripts, no network) with the
/// summary table and, for all engines on shared axes, throughput over time, p99 latency over time
/// with maintenance events marked, and bytes on disk over time.
public enum HTMLReport {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    public static func render(_ results: Results) -> String {
        let runs = results.runs
        let colors = Dictionary(uniqueKeysWithValues: runs.indices.map { (label(runs[$0], in: results), palette[$0 % palette.count]) })
        let maxT = runs.flatMap(\.timeseries.t).max() ?? 1
        func series(_ values: (Results.Run) -> [Double]) -> [LineChart.Series] {
            runs.map { run in
                let label = label(run, in: results)
                return LineChart.Series(name: label, color: colors[label]!, points: Array(zip(run.timeseries.t, values(run))))
            }
        }
        var throughput = LineChart(
            title: "Throughput (shaded: warm-up, not in the figures)", unit: "ops/s", maxX: maxT, series: series(\.timeseries.opsPerS),
            format: { NumberFormat.grouped($0) })
        throughput.bands = runs.compactMap { run in
            run.warmUpS.map { LineChart.Band(start: 0, end: $0, color: "#888888", strong: false) }
        }
        var latency = LineChart(
            title: "p99 latency per interval (shaded: maintenance; darker: writers blocked)", unit: "µs", maxX: maxT,
            series: series(\.timeseries.p99Us), format: { NumberFormat.fixed($0, places: $0 < 10 ? 1 : 0) })
        latency.bands = runs.flatMap { run in
            run.events.map { event in
                LineChart.Band(start: event.startS, end: event.startS + event.durationMs / 1000,
                               color: colors[label(run, in: results)]!, strong: event.blockedWriters)
            }
        }
        let disk = LineChart(
            title: "Bytes on disk", unit: "bytes", maxX: maxT,
            series: series { $0.timeseries.diskBytes.map(Double.init) }, format: { ByteSize.format(Int($0)) })

        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>storebench — \(escape(results.workload.name))</title>
            <style>
            body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
            h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
            table { border-collapse: collapse; font-size: 0.85em; }
            th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: right; }
            th:first-child, td:first-child { text-align: left; }
            .meta { color: #555; font-size: 0.9em; }
            .legend span { display: inline-block; margin-right: 1.5em; }
            .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }
            svg text { font-size: 11px; fill: #444; }
            </style></head><body>
            <h1>storebench: \(escape(results.workload.name))</h1>
            <p class="meta">workload \(escape(results.workload.source)), seed \(results.workload.seed), \
            \(results.workload.records) load and \(results.workload.operations) run operations · durability \
            \(escape(results.options.durability)) · pace \(escape(results.options.pace)) · \
            \(results.machine.cpus) CPUs, \(ByteSize.format(results.machine.memoryBytes)), \(escape(results.machine.os)) · \
            storebench \(escape(results.tool.version)) (\(escape(results.tool.commit)))</p>
            <p class="legend">\(runs.map { let name = label($0, in: results); return "<span><span class=\"swatch\" style=\"background:\(colors[name]!)\"></span>\(escape(name))</span>" }.joined())</p>
            <h2>Summary</h2>
            """
        let table = SummaryTable.make(results)
        html += "<table><tr>" + table.headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
        for row in table.rows { html += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }
        html += "</table>\n"
        html += scalingCharts(results)
        html += rateCharts(results)
        html += "<h2>Throughput over time</h2>\n" + throughput.svg()
        html += "<h2>p99 latency over time</h2>\n" + latency.svg()
        html += "<h2>Bytes on disk over time</h2>\n" + disk.svg()
        html += "<h2>Latency by operation (µs)</h2>\n<table><tr><th>engine</th><th>op</th><th>count</th><th>ops/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n"
        for run in runs {
            var rows = run.byOp.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            if let during = run.duringMaintenance { rows.append(("during maintenance", during)) }
            for (name, stats) in rows {
                let latency = stats.latencyUs
                html += "<tr><td>\(escape(label(run, in: results)))</td><td>\(escape(name))</td><td>\(stats.count)</td><td>\(NumberFormat.grouped(stats.opsPerS))</td>"
                html += [latency.p50, latency.p90, latency.p99, latency.p999, latency.max].map { "<td>\(NumberFormat.fixed($0, places: 1))</td>" }.joined() + "</tr>\n"
            }
        }
        html += "</table>\n<h2>Maintenance events</h2>\n"
        let events = runs.flatMap { run in run.events.map { (label(run, in: results), $0) } }
        if events.isEmpty {
            html += "<p class=\"meta\">None during the run phase.</p>\n"
        } else {
            html += "<table><tr><th>engine</th><th>kind</th><th>start s</th><th>duration ms</th><th>read</th><th>written</th><th>writers blocked</th><th>detail</th></tr>\n"
            for (name, event) in events.prefix(500) {
                html += "<tr><td>\(escape(name))</td><td>\(escape(event.kind))</td><td>\(NumberFormat.fixed(event.startS, places: 2))</td><td>\(NumberFormat.fixed(event.durationMs, places: 1))</td><td>\(ByteSize.format(event.bytesRead))</td><td>\(ByteSize.format(event.bytesWritten))</td><td>\(event.blockedWriters ? "yes" : "no")</td><td style=\"text-align:left\">\(escape(event.detail))</td></tr>\n"
            }
            html += "</table>\n"
            if events.count > 500 { html += "<p class=\"meta\">\(events.count - 500) more in results.json.</p>\n" }
        }
        html += "</body></html>\n"
        return html
    }

    static func label(_ run: Results.Run, in results: Results) -> String {
        var label = run.engine
        if Set(results.runs.map(\.threadLabel)).count > 1 || run.threadCount > 1 {
            label += run.readers != nil ? ", \(run.threadLabel)" : ", \(run.threadCount) thread\(run.threadCount == 1 ? "" : "s")"
        }
        if results.runs.contains(where: { $0.repetition > 1 }) { label += " #\(run.repetition)" }
        return label
    }

    /// `--find-max`: the objective's latency against the offered rate, one line per engine.
    static func rateCharts(_ results: Results) -> String {
        let searched = results.runs.filter { $0.maximumRate != nil }
        guard let objective = searched.first?.maximumRate?.objective else { return "" }
        let series = searched.enumerated().map { index, run in
            LineChart.Series(name: label(run, in: results), color: palette[index % palette.count],
                             points: run.maximumRate!.probes.compactMap { probe in probe.latencyUs.map { (probe.offeredOpsPerS, $0) } })
        }
        let rates = searched.flatMap { $0.maximumRate!.probes.map(\.offeredOpsPerS) }
        var chart = LineChart(title: "Latency against offered rate", unit: "µs", maxX: rates.max() ?? 1, series: series,
                              format: { NumberFormat.fixed($0, places: $0 < 10 ? 1 : 0) })
        chart.markPoints = true
        chart.xLabel = "offered ops/s"
        let legend = searched.enumerated().map { index, run in
            let found = run.maximumRate!.maxOpsPerS.map { NumberFormat.grouped($0) + " ops/s" } ?? "none held"
            return "<span><span class=\"swatch\" style=\"background:\(palette[index % palette.count])\"></span>\(escape(label(run, in: results))): \(escape(found))</span>"
        }.joined()
        return "<h2>Highest rate within \(escape(objective))</h2>\n<p class=\"legend\">\(legend)</p>\n" + chart.svg()
    }

    /// Throughput and p99 against client threads, one line per engine (median over repetitions),
    /// when the run measured more than one thread count.
    static func scalingCharts(_ results: Results) -> String {
        let counts = Set(results.runs.filter { $0.readers == nil }.map(\.threadCount)).sorted()
        guard counts.count > 1 else { return "" }
        var engines: [String] = []
        for run in results.runs where !engines.contains(run.engine) { engines.append(run.engine) }
        let median = SampleStatistics.median
        func series(_ value: (Results.Run) -> Double?) -> [LineChart.Series] {
            engines.enumerated().map { index, engine in
                let points = counts.compactMap { count -> (Double, Double)? in
                    let values = results.runs.filter { $0.engine == engine && $0.readers == nil && $0.threadCount == count }.compactMap(value)
                    return values.isEmpty ? nil : (Double(count), median(values))
                }
                return LineChart.Series(name: engine, color: palette[index % palette.count], points: points)
            }
        }
        let ticks = counts.map(Double.init)
        var throughput = LineChart(title: "Throughput against threads", unit: "ops/s", maxX: ticks.last!,
                                   series: series { $0.opsPerS }, format: { NumberFormat.grouped($0) })
        throughput.xTicks = ticks
        throughput.markPoints = true
        var latency = LineChart(title: "p99 latency against threads", unit: "µs", maxX: ticks.last!,
                                series: series { $0.byOp["all"]?.latencyUs.p99 },
                                format: { NumberFormat.fixed($0, places: $0 < 10 ? 1 : 0) })
        latency.xTicks = ticks
        latency.markPoints = true
        let legend = engines.enumerated().map { index, engine in
            "<span><span class=\"swatch\" style=\"background:\(palette[index % palette.count])\"></span>\(escape(engine))</span>"
        }.joined()
        return "<h2>Scaling with client threads</h2>\n<p class=\"legend\">\(legend)</p>\n" + throughput.svg() + latency.svg()
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// A line chart as inline SVG: shared x axis in seconds, one polyline per series, optional
/// shaded time bands.
struct LineChart {
    struct Series {
        var name: String
        var color: String
        var points: [(Double, Double)]
    }

    struct Band {
        var start: Double
        var end: Double
        var color: String
        var strong: Bool
    }

    var title: String
    var unit: String
    var maxX: Double
    var series: [Series]
    var format: (Double) -> String
    var bands: [Band] = []
    /// Tick values for a non-time x axis (e.g. thread counts), labelled as they are; `nil`: five
    /// ticks in seconds.
    var xTicks: [Double]?
    /// Draw a dot at every point (for sparse series such as one per thread count).
    var markPoints = false
    /// What the x axis measures when it is not time (five ticks labelled as numbers).
    var xLabel: String?
    /// Text for each tick of `xTicks`, in order (commits or dates), instead of the numbers.
    var xTickLabels: [String]?
    /// Points drawn as rings over the lines, with a tooltip (e.g. where `compare` flags a change).
    var markers: [(x: Double, y: Double, color: String, title: String)] = []
    var width = 1000.0
    var height = 280.0

    func svg() -> String {
        let left = 80.0, right = 20.0, top = 20.0, bottom = 36.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let maxY = max(series.flatMap { $0.points.map(\.1) }.max() ?? 1, 1e-9) * 1.08
        let xMax = max(maxX, 1e-9)
        func x(_ value: Double) -> Double { left + value / xMax * plotWidth }
        func y(_ value: Double) -> Double { top + plotHeight - value / maxY * plotHeight }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(HTMLReport.escape(title))\">\n"
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n"
        for band in bands {
            let start = x(max(0, band.start))
            let end = max(x(min(xMax, band.end)), start + 1)
            out += "<rect x=\"\(f(start))\" y=\"\(top)\" width=\"\(f(end - start))\" height=\"\(plotHeight)\" fill=\"\(band.color)\" fill-opacity=\"\(band.strong ? 0.22 : 0.08)\"/>\n"
        }
        for tick in 0...4 {
            let value = maxY * Double(tick) / 4
            let position = y(value)
            out += "<line x1=\"\(left)\" x2=\"\(left + plotWidth)\" y1=\"\(f(position))\" y2=\"\(f(position))\" stroke=\"#e4e4e4\"/>\n"
            out += "<text x=\"\(left - 6)\" y=\"\(f(position + 4))\" text-anchor=\"end\">\(HTMLReport.escape(format(value)))</text>\n"
            guard xTicks == nil else { continue }
            let seconds = xMax * Double(tick) / 4
            let text = xLabel == nil ? NumberFormat.fixed(seconds, places: seconds < 10 ? 1 : 0) + " s" : NumberFormat.grouped(seconds)
            out += "<text x=\"\(f(x(seconds)))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\">\(text)</text>\n"
        }
        for (index, value) in (xTicks ?? []).enumerated() {
            let text = xTickLabels.map { index < $0.count ? $0[index] : "" } ?? NumberFormat.grouped(value)
            // Long labels at the edges stay inside the picture.
            let anchor = xTickLabels == nil ? "middle" : (value <= 0 ? "start" : (value >= xMax ? "end" : "middle"))
            out += "<text x=\"\(f(x(value)))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"\(anchor)\">\(HTMLReport.escape(text))</text>\n"
        }
        if xTicks != nil || xLabel != nil {
            out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 4))\" text-anchor=\"middle\">\(HTMLReport.escape(xLabel ?? "threads"))</text>\n"
        }
        out += "<text x=\"12\" y=\"\(f(top + plotHeight / 2))\" transform=\"rotate(-90 12 \(f(top + plotHeight / 2)))\" text-anchor=\"middle\">\(HTMLReport.escape(unit))</text>\n"
        for line in series where !line.points.isEmpty {
            let points = line.points.map { "\(f(x($0.0))),\(f(y($0.1)))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.8\" points=\"\(points)\"><title>\(HTMLReport.escape(line.name))</title></polyline>\n"
            if line.points.count == 1 || markPoints {
                for point in line.points {
                    out += "<circle cx=\"\(f(x(point.0)))\" cy=\"\(f(y(point.1)))\" r=\"3\" fill=\"\(line.color)\"><title>\(HTMLReport.escape(line.name)): \(HTMLReport.escape(format(point.1)))</title></circle>\n"
                }
            }
        }
        for marker in markers {
            out += "<circle class=\"marker\" cx=\"\(f(x(marker.x)))\" cy=\"\(f(y(marker.y)))\" r=\"7\" fill=\"none\" stroke=\"\(marker.color)\" stroke-width=\"2.5\"><title>\(HTMLReport.escape(marker.title))</title></circle>\n"
        }
        return out + "</svg>\n"
    }

    private func f(_ value: Double) -> String {
        NumberFormat.fixed(value, places: 1)
    }
}
