import ResultsSchema

/// The merged figures of a sweep: one row per engine run of every cell that has results, with the
/// cell's coordinates, as a table and as CSV (`sweep.csv`).
public enum SweepSummary {
    /// One cell of the matrix: its number, its value on each axis, and the results it produced.
    public struct Cell {
        public var index: Int
        public var coordinates: [(key: String, value: String)]
        public var results: [Results]

        public init(index: Int, coordinates: [(key: String, value: String)], results: [Results]) {
            self.index = index
            self.coordinates = coordinates
            self.results = results
        }
    }

    public static func make(_ cells: [Cell], axes keys: [String]) -> (table: TextTable, csv: String) {
        var table = TextTable(headers: ["cell"] + keys + ["engine", "threads", "ops/s", "p50 µs", "p99 µs", "write amp", "space amp", "fsyncs/commit", "lost"])
        var csv = (["cell"] + keys + ["engine", "threads", "ops_per_s", "p50_us", "p99_us", "write_amp", "space_amp", "fsyncs_per_commit", "lost_commits"])
            .joined(separator: ",") + "\n"
        for cell in cells {
            for run in cell.results.flatMap(\.runs) {
                let head: [String] = [String(cell.index)] + cell.coordinates.map(\.value) + [run.engine, run.threadLabel]
                let figures: [Double?] = [
                    run.opsPerS, run.byOp["all"]?.latencyUs.p50, run.byOp["all"]?.latencyUs.p99, run.io.writeAmp,
                    run.disk.spaceAmp, run.io.fsyncsPerCommit, run.recovery.lostCommits.map(Double.init),
                ]
                let places = [0, 1, 1, 2, 2, 3, 0]
                let shown = zip(figures, places).map { figure, decimals in
                    figure.map { decimals == 0 ? NumberFormat.grouped($0) : NumberFormat.fixed($0, places: decimals) } ?? "–"
                }
                table.append(head + shown)
                let raw: [String] = head + figures.map { $0.map { String($0) } ?? "" }
                csv += raw.map { $0.contains(",") ? "\"\($0)\"" : $0 }.joined(separator: ",") + "\n"
            }
        }
        return (table, csv)
    }
}
