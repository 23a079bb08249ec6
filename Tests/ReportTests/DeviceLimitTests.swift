import Report
import ResultsSchema
import StoreTestSupport
import Testing

@Suite("Device limit table")
struct DeviceLimitTests {
    @Test("commits per second of each run beside the device's overwrite + fdatasync rate")
    func ratios() {
        var fixture = results([("log", 1000, 10, 0), ("cow", 500, 10, 0)])
        // 100 ops in 0.1 s and 0.2 s, all of them commits: 1,000 and 500 commits/s.
        for index in fixture.runs.indices { fixture.runs[index].io.commits = 100 }
        fixture.machine.fsyncAppendPerS = 400
        let text = SummaryTable.deviceLimit(fixture, overwriteRate: 2000)
        #expect(text.contains("overwrite + fdatasync 2,000/s, 4 KiB append + fdatasync 400/s"))
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("log") || $0.hasPrefix("cow") }
        #expect(rows.count == 2)
        #expect(rows.first { $0.hasPrefix("log") }?.contains("0.50×") == true, "\(rows)")
        #expect(rows.first { $0.hasPrefix("cow") }?.contains("0.25×") == true, "\(rows)")
    }
}
