import ArgumentParser
import Foundation
import Report
import ResultsSchema
import StoreCore

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Regenerate report.html (or print a table) from a results.json."
    )

    @Argument(help: "A results.json written by `storebench run`.")
    var results: String

    @Option(name: .shortAndLong, help: "Where to write the HTML report (default: report.html beside results.json).")
    var output: String?

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, csv, markdown, none }

    @Option(help: "Also print: table, csv, markdown or none.")
    var format: Format = .table

    func run() throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: results)) } catch {
            throw ValidationError("cannot read \(results): \(error.localizedDescription)")
        }
        let decoded: Results
        do { decoded = try Results.decode(data) } catch {
            throw ValidationError("\(results) is not a storebench results file (\(Results.schemaName)): \(error)")
        }
        guard decoded.schema == Results.schemaName else {
            throw ValidationError("\(results) has schema \(decoded.schema); this storebench reads \(Results.schemaName)")
        }
        let target = output ?? URL(fileURLWithPath: results).deletingLastPathComponent().appendingPathComponent("report.html").path
        let url = URL(fileURLWithPath: target)
        let directory = StorageDirectory(path: url.deletingLastPathComponent().path, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
        try directory.writeAtomically(url.lastPathComponent, contents: Array(HTMLReport.render(decoded).utf8))
        switch format {
        case .csv: print(SummaryTable.csv(decoded), terminator: "")
        case .markdown: print(SummaryTable.markdown(decoded), terminator: "")
        case .none: break
        case .table: print(SummaryTable.make(decoded).render())
        }
        print("wrote \(target)")
    }
}
