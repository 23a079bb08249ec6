import ArgumentParser
import Foundation
import Report
import StoreCore

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Draw each figure's trend per engine across a folder of results files, marking what compare would flag.",
        discussion: "Reads every results.json under DIR (e.g. the Results/ folder CI keeps, one run per commit), groups them by workload, orders them by date and writes one HTML page."
    )

    @Argument(help: "A folder holding results.json files (searched recursively).")
    var directory: String

    @Option(name: .shortAndLong, help: "Where to write the page (default: history.html in DIR).")
    var output: String?

    func run() throws {
        let entries: [HistoryReport.Entry]
        do { entries = try HistoryReport.load(directory: directory) } catch let ComparisonError.unusable(reason) {
            throw ValidationError(reason)
        }
        guard !entries.isEmpty else { throw ValidationError("\(directory) holds no storebench results file") }
        let target = output ?? directory + "/history.html"
        let url = URL(fileURLWithPath: target)
        let folder = StorageDirectory(path: url.deletingLastPathComponent().path, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
        try folder.writeAtomically(url.lastPathComponent, contents: Array(HistoryReport.render(entries).utf8))
        let workloads = Set(entries.map { HistoryReport.workloadKey($0.results) }).count
        print("read \(entries.count) results file\(entries.count == 1 ? "" : "s") (\(workloads) workload\(workloads == 1 ? "" : "s")); wrote \(target)")
    }
}
