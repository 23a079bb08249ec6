import Engines
import ProcessMemory
import Replay
import Report
import StoreCore
#if canImport(Glibc)
import Glibc
#endif

/// Runs db_bench-style phases on each selected engine in a fresh directory and renders the
/// figures; shared by `run` and `dbbench`.
struct BenchmarkRunner {
    var engines: [EngineDescriptor]
    var configuration: DBBench.Configuration
    var phases: [DBBench.Phase]
    var options: StoreOptions
    /// Parent of the engines' directories; `nil`: a temporary directory, removed afterwards.
    var parentDirectory: String?

    func run() throws -> [(engine: String, outcome: DBBench.Outcome)] {
        let parent = try parentDirectory ?? Self.makeTemporaryDirectory()
        defer { if parentDirectory == nil { try? StorageDirectory.destroy(parent, fileSystem: options.fileSystem) } }
        var outcomes: [(engine: String, outcome: DBBench.Outcome)] = []
        for engine in engines {
            let path = parent + "/" + engine.name
            let probe = StorageDirectory(path: path, fileSystem: options.fileSystem, metrics: StoreMetrics())
            if try probe.status(of: ".") != nil {
                throw StoreError.invalidArgument("\(path) already exists; each engine run needs a fresh directory (remove it or choose another --dir)")
            }
            var benchmark = try DBBench(configuration)
            let outcome = try benchmark.run(
                phases, persistent: engine.isPersistent, countsSyncs: !engine.isReference,
                dropCachedPages: { try StorageDirectory(path: path, fileSystem: options.fileSystem, metrics: StoreMetrics()).dropCachedPages() }
            ) { extra in
                var options = self.options
                options.settings.merge(extra) { _, new in new }
                return try engine.open(path, options)
            }
            outcomes.append((engine.name, outcome))
            if parentDirectory == nil { try StorageDirectory.destroy(path, fileSystem: options.fileSystem) }
        }
        return outcomes
    }

    static func phaseTable(_ outcomes: [(engine: String, outcome: DBBench.Outcome)]) -> TextTable {
        var table = TextTable(headers: ["engine", "threads", "benchmark", "ops", "ops/s", "µs/op", "found", "syncs/commit", "bytes/key", "note"])
        for (engine, outcome) in outcomes {
            for result in outcome.results {
                table.append([
                    engine, String(result.threads), result.phase, NumberFormat.grouped(Double(result.operations)),
                    result.operations > 1 ? NumberFormat.grouped(result.opsPerSecond) : "-",
                    result.operations > 1 ? NumberFormat.fixed(result.microsecondsPerOp, places: 3) : NumberFormat.fixed(result.seconds * 1000, places: 1) + " ms",
                    result.found.map { NumberFormat.grouped(Double($0)) } ?? "",
                    result.commits == nil ? "" : result.syncsPerCommit.map { NumberFormat.fixed($0, places: 3) } ?? "–",
                    result.bytesPerKey.map { NumberFormat.fixed($0, places: 1) } ?? "",
                    result.note ?? "",
                ])
            }
        }
        return table
    }

    static func summaryTable(_ outcomes: [(engine: String, outcome: DBBench.Outcome)]) -> TextTable {
        var table = TextTable(headers: ["engine", "threads", "files", "disk", "live", "write amp", "fsyncs", "maintenance", "jemalloc allocated", "jemalloc resident"])
        for (engine, outcome) in outcomes {
            let pauses = outcome.events.reduce(0) { $0 + $1.durationNanos } / 1_000_000
            table.append([
                engine, String(outcome.results.first?.threads ?? 1), String(outcome.statistics.fileCount), ByteSize.format(outcome.statistics.diskBytes),
                outcome.statistics.liveBytes.map(ByteSize.format) ?? "-",
                outcome.metrics.writeAmplification.map { NumberFormat.fixed($0, places: 2) } ?? "-",
                String(outcome.metrics.syncs),
                "\(outcome.events.count) events, \(pauses) ms",
                outcome.allocator.map { ByteSize.format($0.allocated) } ?? "n/a",
                outcome.allocator.map { ByteSize.format($0.resident) } ?? "n/a",
            ])
        }
        return table
    }

    static func makeTemporaryDirectory() throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/storebench-run-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw StoreError.io(call: "mkdtemp", errno: errno, path: base)
        }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
