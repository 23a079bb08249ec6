import Foundation
@testable import Report
import ResultsSchema
import Testing

@Suite("HTML report")
struct HTMLReportTests {
    @Test("a self-contained page: summary, three time charts, latency and events; no scripts, nothing fetched")
    func structure() {
        var data = results([("log", 1000, 100, 0), ("cow<&>", 900, 100, 0)])
        data.runs[0].events = [Results.Event(kind: "compaction", startS: 0.5, durationMs: 20, bytesRead: 1, bytesWritten: 2, blockedWriters: true, detail: "a & b")]
        let html = HTMLReport.render(data)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href=") && !html.contains("@import"))
        for heading in ["Summary", "Throughput over time", "p99 latency over time", "Bytes on disk over time", "Latency by operation (µs)", "Maintenance events"] {
            #expect(html.contains("<h2>\(heading)</h2>"), "\(heading)")
        }
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)
        #expect(html.contains("cow&lt;&amp;&gt;") && !html.contains("cow<&>"), "engine names are escaped")
        #expect(html.contains("a &amp; b"), "event details are escaped")
        #expect(!html.contains("Scaling with client threads"), "one thread count draws no scaling chart")
    }

    @Test("several thread counts: throughput and p99 against threads, one line per engine, runs labelled with their threads")
    func scaling() {
        var data = results([("lsm", 1000, 100, 0), ("lsm", 1900, 100, 0), ("log", 800, 100, 0), ("log", 1500, 100, 0)])
        for index in data.runs.indices {
            data.runs[index].threads = index % 2 == 0 ? 1 : 2
            data.runs[index].repetition = 1
        }
        let html = HTMLReport.render(data)
        #expect(html.contains("<h2>Scaling with client threads</h2>"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)
        #expect(html.contains(">threads</text>"))
        #expect(html.contains("lsm, 2 threads") && html.contains("log, 1 thread"))
    }
}
