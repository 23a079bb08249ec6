import Replay
import Testing

@Suite("Sweep files")
struct SweepPlanTests {
    static let text = """
        # a comment, then the axes
        workloads = ycsb-a, ycsb-c
        engines = log, lsm, cow[commit=journal,chunk_size=1024]   # a variant's commas stay in its name
        threads = 1, 4
        set lsm.write_buffer_size = 1MiB, 4MiB

        records = 1000
        """

    @Test("every combination of the values once, in a fixed order; fixed options in every cell")
    func matrix() throws {
        let plan = try SweepPlan(parsing: Self.text, file: "m.sweep")
        let cells = plan.cells
        #expect(cells.count == 2 * 3 * 2 * 2)
        #expect(cells.map(\.index) == Array(0..<24))
        #expect(Set(cells.map(\.arguments)).count == 24)
        #expect(cells.allSatisfy { $0.arguments.suffix(2) == ["--records", "1000"] })
        #expect(cells[0].arguments == ["ycsb-a", "--engines", "log", "--threads", "1", "--set", "lsm.write_buffer_size=1MiB", "--records", "1000"])
        #expect(cells[23].arguments.first == "ycsb-c" && cells[23].arguments.contains("cow[commit=journal,chunk_size=1024]"))
        #expect(cells[5].coordinates.map(\.key) == ["workload", "engines", "threads", "lsm.write_buffer_size"])
        #expect(Set(cells.map(\.name)).count == 24 && cells.allSatisfy { !$0.name.contains("/") && !$0.name.contains("[") })
        #expect(try SweepPlan(parsing: Self.text, file: "m.sweep").cells == cells, "the same file numbers its cells the same way")
    }

    @Test("shards split the cells without overlap or gap, each with a share of every engine")
    func shards() throws {
        let plan = try SweepPlan(parsing: Self.text, file: "m.sweep")
        let shards = (1...5).map { plan.cells(shard: $0, of: 5) }
        #expect(shards.flatMap { $0.map(\.index) }.sorted() == Array(0..<24))
        #expect(shards.allSatisfy { $0.count >= 4 && $0.count <= 5 })
        #expect(plan.cells(shard: 1, of: 1) == plan.cells)
    }

    @Test("malformed lines are errors naming the file and line", arguments: [
        ("engines = log\nthreads 4", 2, "expected KEY = VALUE"),
        ("engines = log\ncolour = blue", 2, "unknown key `colour`"),
        ("engines = log,\n", 1, "empty value"),
        ("engines = log\nengines = lsm", 2, "given twice"),
        ("engines = log, log", 1, "lists a value twice"),
        ("records = 10", 0, "no `engines"),
        ("engines = log\nset = 4", 2, "set NAME"),
    ])
    func malformed(text: String, line: Int, reason: String) {
        #expect {
            _ = try SweepPlan(parsing: text, file: "bad.sweep")
        } throws: { error in
            guard let error = error as? SweepError else { return false }
            return error.line == line && error.reason.contains(reason) && error.description.hasPrefix("bad.sweep")
        }
    }
}
