import Report
import ResultsSchema
import StoreTestSupport
import Testing

@Suite("Sweep summary")
struct SweepSummaryTests {
    @Test("one row per engine run of every cell, with the cell's coordinates; CSV quotes names with commas and leaves unknowns empty")
    func rows() {
        let first = results([("log", 1000, 10, 0), ("lsm[write_buffer_size=64KiB,preallocate=false]", 500, 10, 2)])
        var second = results([("cow", 250, 10, 0)])
        second.runs[0].io.writeAmp = nil
        let cells = [
            SweepSummary.Cell(index: 1, coordinates: [("engines", "log,lsm"), ("threads", "1")], results: [first]),
            SweepSummary.Cell(index: 4, coordinates: [("engines", "cow"), ("threads", "4")], results: [second]),
        ]
        let (table, csv) = SweepSummary.make(cells, axes: ["engines", "threads"])
        let lines = csv.split(separator: "\n").map(String.init)
        #expect(lines.first == "cell,engines,threads,engine,threads,ops_per_s,p50_us,p99_us,write_amp,space_amp,fsyncs_per_commit,lost_commits")
        #expect(lines.count == 4, "\(csv)")
        #expect(lines[1].hasPrefix("1,\"log,lsm\",1,log,"), "\(lines[1])")
        #expect(lines[2].hasPrefix("1,\"log,lsm\",1,\"lsm[write_buffer_size=64KiB,preallocate=false]\","), "\(lines[2])")
        #expect(lines[2].hasSuffix(",2.0"), "lost commits are the last column: \(lines[2])")
        let cow = lines[3].split(separator: ",", omittingEmptySubsequences: false)
        #expect(cow.first == "4" && cow[3] == "cow" && cow[8] == "", "an unknown write amplification is empty: \(lines[3])")
        let rendered = table.render()
        #expect(rendered.contains("lsm[write_buffer_size=64KiB,preallocate=false]") && rendered.contains("–"))
    }
}
