import Foundation
import StoreTestSupport
import Testing

@Suite("storebench history")
struct HistoryTests {
    /// Three runs of one workload, the third with an engine made to sync twice: the page draws a
    /// line per engine for each figure across the three files, and rings the regression.
    @Test("history draws each figure's trend per engine and marks what compare flags")
    func trend() throws {
        let scratch = try ScratchDirectory("history")
        let folder = scratch.child("results")
        for degradation in [nil, nil, "extra-fsync"] {
            var arguments = ["run", "churn", "--engines", "memory,cow", "--records", "300", "--ops", "1500", "--kill-points", "0",
                             "--durability", "always", "--out", folder]
            if let degradation { arguments += ["--degrade", degradation] }
            let (status, output) = try StorebenchProcess.run(arguments)
            #expect(status == 0, "\(output)")
            Thread.sleep(forTimeInterval: 1.1)  // run directories are named by the second
        }
        let (status, output) = try StorebenchProcess.run(["history", folder, "-o", scratch.child("history.html")])
        #expect(status == 0 && output.contains("read 3 results files (1 workload)"), "\(output)")
        let html = try String(contentsOfFile: scratch.child("history.html"), encoding: .utf8)
        #expect(html.contains("<h3>fsyncs (lower is better)</h3>") && html.contains("<h3>ops_per_s (higher is better)</h3>"))
        // One line per engine per figure, each through the three files.
        let lines = html.components(separatedBy: "<polyline").dropFirst()
        #expect(lines.count >= 2 * 8, "\(lines.count) lines")
        #expect(lines.allSatisfy { line in
            let points = line.components(separatedBy: "points=\"")[1].prefix { $0 != "\"" }
            return points.split(separator: " ").count == 3
        })
        #expect(html.contains("class=\"marker\"") && html.contains("cow fsyncs: regression"), "the doubled syncs are ringed")
        #expect(!html.contains("memory fsyncs: regression"))

        let (empty, message) = try StorebenchProcess.run(["history", scratch.child("nothing-here")])
        #expect(empty == 64 && message.contains("nothing-here"), "\(message)")
    }
}

@Suite("storebench sweep")
struct SweepTests {
    @Test("shards share one output, a second pass runs nothing again, and the summary merges every shard")
    func shardsAndResume() throws {
        let scratch = try ScratchDirectory("sweep")
        let file = scratch.child("m.sweep")
        try """
            engines = memory, lsm[write_buffer_size=64KiB]
            threads = 1, 2
            records = 200
            ops = 1000
            kill-points = 0
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let out = scratch.child("out")
        let (first, firstOutput) = try StorebenchProcess.run(["sweep", file, "--out", out, "--shard", "1/2"])
        #expect(first == 0 && firstOutput.contains("2 of 4 cells have results"), "\(firstOutput)")
        let (second, secondOutput) = try StorebenchProcess.run(["sweep", file, "--out", out, "--shard", "2/2"])
        #expect(second == 0 && secondOutput.contains("4 of 4 cells have results"), "\(secondOutput)")
        let (again, againOutput) = try StorebenchProcess.run(["sweep", file, "--out", out])
        #expect(again == 0 && againOutput.components(separatedBy: "done already").count - 1 == 4, "\(againOutput)")
        let csv = try String(contentsOfFile: out + "/sweep.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 5 && csv.dropFirst().contains { $0.contains(",lsm[write_buffer_size=64KiB],") }, "\(csv)")

        let (bad, badOutput) = try StorebenchProcess.run(["sweep", file, "--shard", "3/2"])
        #expect(bad == 64 && badOutput.contains("--shard"), "\(badOutput)")
        try "engines = memory\nthreads: 2\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (malformed, message) = try StorebenchProcess.run(["sweep", file, "--out", out])
        #expect(malformed == 64 && message.contains("m.sweep:2:"), "\(message)")
    }
}
