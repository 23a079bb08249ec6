import ArgumentParser
import Foundation
import Replay
import Report
import ResultsSchema
import StoreCore

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a matrix of engines × workloads × settings × threads described in a sweep file, resumably and in shards.",
        discussion: """
            Each cell is one `storebench run` in its own process, its results in OUT/<cell>/. A cell whose results \
            exist is skipped, so an interrupted sweep goes on where it stopped. --shard i/n runs every n-th cell \
            starting at the i-th, so n machines or CI jobs split a matrix into the same OUT; after its cells, every \
            invocation prints (and writes to OUT/sweep.csv) the figures of every cell present in OUT, from all shards. \
            The sweep file format is in docs/MANUAL.md.
            """
    )

    @Argument(help: "The sweep file.")
    var file: String

    @Option(help: "Where the cells' results go (shared by every shard).")
    var out = "Results/sweep"

    @Option(help: "i/n: run only the i-th of n shares of the cells (1-based).")
    var shard: String?

    @Flag(help: "List the cells (and whether each is done) without running any.")
    var dryRun = false

    @Flag(help: "Only merge and print what OUT holds.")
    var summaryOnly = false

    func parsedShard() throws -> (index: Int, count: Int) {
        guard let shard else { return (1, 1) }
        let parts = shard.split(separator: "/").map { Int($0) }
        guard parts.count == 2, let index = parts[0], let count = parts[1], count >= 1, (1...count).contains(index) else {
            throw ValidationError("--shard expects i/n with 1 ≤ i ≤ n, got `\(shard)`")
        }
        return (index, count)
    }

    func run() throws {
        let (index, count) = try parsedShard()
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw ValidationError("cannot read \(file): \(error.localizedDescription)")
        }
        let plan: SweepPlan
        do { plan = try SweepPlan(parsing: text, file: file) } catch { throw ValidationError(error.description) }
        let all = plan.cells
        let mine = plan.cells(shard: index, of: count)
        try StorageDirectory.createPath(out, fileSystem: PosixFileSystem())
        print("sweep \(file): \(all.count) cells, shard \(index)/\(count) has \(mine.count)")
        var failed: [String] = []
        if !summaryOnly {
            for (position, cell) in mine.enumerated() {
                let directory = out + "/" + cell.name
                let label = "[\(position + 1)/\(mine.count)] cell \(cell.index): \(cell.arguments.joined(separator: " "))"
                if !SweepPlan.Cell.resultFiles(in: directory).isEmpty {
                    print("\(label): done already")
                    continue
                }
                if dryRun {
                    print("\(label): to run")
                    continue
                }
                let status = try cell.run(executable: CommandLine.executablePath, into: directory)
                print("\(label): \(status == 0 ? "ok" : "failed (exit \(status), see \(directory)/run.log)")")
                if status != 0 { failed.append(cell.name) }
            }
        }
        let (table, csv, missing) = try Self.summary(all, out: out)
        print("")
        print(table.render())
        let target = StorageDirectory(path: out, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
        try target.writeAtomically("sweep.csv", contents: Array(csv.utf8))
        print("\n\(all.count - missing) of \(all.count) cells have results (wrote \(out)/sweep.csv)\(missing > 0 ? "; \(missing) still to run" : "")")
        if !failed.isEmpty { throw ExitCode(1) }
    }

    /// Every cell's results found in `out`, from all shards, and how many cells have none yet.
    static func summary(_ cells: [SweepPlan.Cell], out: String) throws -> (TextTable, String, missing: Int) {
        var found: [SweepSummary.Cell] = []
        for cell in cells {
            let files = SweepPlan.Cell.resultFiles(in: out + "/" + cell.name)
            guard !files.isEmpty else { continue }
            let results = try files.map { path in
                do { return try Results.decode(Data(contentsOf: URL(fileURLWithPath: path))) } catch {
                    throw ValidationError("\(path) is not a readable results file: \(error)")
                }
            }
            found.append(SweepSummary.Cell(index: cell.index, coordinates: cell.coordinates, results: results))
        }
        let (table, csv) = SweepSummary.make(found, axes: cells.first?.coordinates.map(\.key) ?? [])
        return (table, csv, cells.count - found.count)
    }
}
