import Foundation

/// A self-contained HTML page of a trace's statistics (`workload stats --html`): op mix, sizes,
/// key popularity on log-log axes with its Zipf fit, the working set over the trace, and the
/// times between operations. Plain inline SVG, no scripts.
public enum TraceStatisticsPage {
    public static func render(_ statistics: TraceStatistics, title: String, header: TraceHeader) -> String {
        var html = """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}
            td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}th:first-child,td:first-child{text-align:left}
            svg{background:#fafafa;border:1px solid #ddd}text{font:11px sans-serif}</style></head><body>
            <h1>\(escape(title))</h1>
            <p>\(statistics.operations) operations, \(statistics.distinctKeys) distinct keys\(span(statistics)).</p>

            """
        html += "<table>" + header.fields.map { "<tr><td>\(escape($0.name))</td><td>\(escape($0.value))</td></tr>" }.joined() + "</table>\n"
        html += "<h2>Operations</h2><table><tr><th>op</th><th>count</th><th>share</th></tr>"
        for kind in WorkloadOperation.Kind.allCases where statistics.byKind[kind] != nil {
            html += "<tr><td>\(kind)</td><td>\(statistics.byKind[kind]!)</td><td>\(String(format: "%.2f%%", statistics.share(of: kind) * 100))</td></tr>"
        }
        html += "</table>\n<h2>Sizes</h2><table><tr><th></th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>mean</th></tr>"
        for (name, distribution) in [("key bytes", statistics.keySizes), ("value bytes", statistics.valueSizes), ("µs between operations", statistics.interArrivals)]
        where distribution.count > 0 {
            let cells = [distribution.minimum, distribution.percentile(0.5), distribution.percentile(0.9), distribution.percentile(0.99), distribution.maximum]
                .map { "<td>\($0 ?? 0)</td>" }.joined()
            html += "<tr><td>\(name)</td>\(cells)<td>\(String(format: "%.1f", distribution.mean))</td></tr>"
        }
        html += "</table>\n"

        let ranked = statistics.rankedCounts
        if !ranked.isEmpty {
            let fit = statistics.zipfExponent()
            html += "<h2>Key popularity</h2><p>Accesses per key by rank, log-log"
                + (fit.map { String(format: "; Zipf fit s = %.3f (keys with at least 5 accesses)", $0) } ?? "") + ".</p>\n"
            // At most ~400 points, spread evenly in log(rank).
            var points: [(Double, Double)] = []
            var rank = 1.0
            while Int(rank) <= ranked.count {
                points.append((log10(rank), log10(Double(ranked[Int(rank) - 1]))))
                rank = max(rank + 1, (rank * 1.02).rounded(.down))
            }
            html += plot(points, xLabel: "log10 rank", yLabel: "log10 accesses")
        }
        if statistics.workingSet.count > 1 {
            html += "<h2>Working set</h2><p>Distinct keys per \(statistics.windowOperations) operations (and keys never seen before, dashed).</p>\n"
            let distinct = statistics.workingSet.enumerated().map { (Double($0.offset), Double($0.element.distinctKeys)) }
            let fresh = statistics.workingSet.enumerated().map { (Double($0.offset), Double($0.element.newKeys)) }
            html += plot(distinct, second: fresh, xLabel: "window", yLabel: "keys")
        }
        let values = statistics.valueSizes.histogram
        if values.count > 1 {
            html += "<h2>Value sizes</h2>\n"
            var cumulative = 0
            let points = values.map { entry -> (Double, Double) in
                cumulative += entry.count
                return (Double(entry.size), Double(cumulative) / Double(statistics.valueSizes.count))
            }
            html += plot(points, xLabel: "value bytes", yLabel: "fraction of writes at or below")
        }
        return html + "</body></html>\n"
    }

    static func span(_ statistics: TraceStatistics) -> String {
        guard let first = statistics.firstTimestamp, let last = statistics.lastTimestamp, last >= first else { return "" }
        return String(format: " over %.3f s of trace time", Double(last - first) / 1e6)
    }

    /// A line plot of `points` (and `second`, dashed) scaled to their ranges.
    static func plot(_ points: [(Double, Double)], second: [(Double, Double)] = [], xLabel: String, yLabel: String) -> String {
        let width = 640.0, height = 300.0, margin = 40.0
        let all = points + second
        let minX = all.map(\.0).min() ?? 0, maxX = all.map(\.0).max() ?? 1
        let minY = min(0, all.map(\.1).min() ?? 0), maxY = all.map(\.1).max() ?? 1
        func x(_ value: Double) -> Double { margin + (value - minX) / max(maxX - minX, 1e-9) * (width - 2 * margin) }
        func y(_ value: Double) -> Double { height - margin - (value - minY) / max(maxY - minY, 1e-9) * (height - 2 * margin) }
        func path(_ points: [(Double, Double)]) -> String {
            points.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
        }
        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"\(path(points))\"/>"
        if !second.isEmpty {
            svg += "<polyline fill=\"none\" stroke=\"#d62728\" stroke-dasharray=\"4 3\" points=\"\(path(second))\"/>"
        }
        svg += String(format: "<text x=\"%.0f\" y=\"%.0f\">%@</text>", width / 2 - 30, height - 8, escape(xLabel))
        svg += String(format: "<text x=\"4\" y=\"14\">%@ (%.3g … %.3g)</text>", escape(yLabel), minY, maxY)
        svg += String(format: "<text x=\"%.0f\" y=\"%.0f\">%.3g</text><text x=\"%.0f\" y=\"%.0f\">%.3g</text>",
                      margin, height - margin + 14, minX, width - margin - 30, height - margin + 14, maxX)
        return svg + "</svg>\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
