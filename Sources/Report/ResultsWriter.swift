import Foundation
import ResultsSchema
import StoreCore

/// Writes a run's results.json, timeseries.csv and report.html into a new directory
/// `<parent>/<UTC time>-<workload>/`, each file atomically through the durable file layer, with
/// each run's latency log (`.hlog`) copied from `latencyLogs`.
public enum ResultsWriter {
    public static func write(_ results: Results, under parent: String, name: String, latencyLogs: String? = nil) throws -> String {
        let fileSystem = PosixFileSystem()
        let stamp = ISO8601Time.compact()
        var path = parent + "/\(stamp)-\(name)"
        var suffix = 2
        while FileManager.default.fileExists(atPath: path) {
            path = parent + "/\(stamp)-\(name)-\(suffix)"
            suffix += 1
        }
        try StorageDirectory.createPath(path, fileSystem: fileSystem)
        let directory = StorageDirectory(path: path, fileSystem: fileSystem, metrics: StoreMetrics())
        try directory.writeAtomically("results.json", contents: Array(try results.encoded()) + [10])
        try directory.writeAtomically("timeseries.csv", contents: Array(SummaryTable.timeseriesCSV(results).utf8))
        try directory.writeAtomically("report.html", contents: Array(HTMLReport.render(results).utf8))
        if let latencyLogs {
            let source = StorageDirectory(path: latencyLogs, fileSystem: fileSystem, metrics: StoreMetrics())
            for log in results.runs.compactMap(\.latencyLog) {
                try directory.writeAtomically(log, contents: try source.readAll(log))
            }
        }
        return path
    }
}
