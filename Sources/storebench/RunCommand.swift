import ArgumentParser
import Engines
import ProcessMemory
import Replay
import Report
import StoreCore
#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a measured put/get/scan/delete benchmark on each engine and compare them.",
        discussion: """
            Each engine gets a fresh directory. Phases: fillrandom, readrandom (every read must hit), \
            scan, overwrite, deleterandom, readdeleted (every read must miss), compact, sync. \
            The same seed gives the same keys, values and order.
            """
    )

    @Option(help: "Engines to run: a comma-separated list of names, or `all`.")
    var engines = "all"

    @Option(help: "Number of records to load.")
    var records = 200_000

    @Option(help: "Key size in bytes (at least 8).")
    var keySize = 16

    @Option(help: "Value size in bytes.")
    var valueSize = 100

    @Option(help: "Seed for keys, values and operation order.")
    var seed: UInt64 = 1

    @Option(help: "Parent directory for the engines' store directories (default: a new temporary directory, removed afterwards).")
    var dir: String?

    @OptionGroup var store: StoreOptionGroup

    func validate() throws {
        guard records > 0 else { throw ValidationError("--records must be positive") }
        guard keySize >= 8 else { throw ValidationError("--key-size must be at least 8") }
        guard valueSize >= 0 else { throw ValidationError("--value-size must not be negative") }
    }

    func run() throws {
        let selected = try EngineRegistry.engines(matching: engines)
        let benchmark = try QuickBenchmark(.init(records: records, keySize: keySize, valueSize: valueSize, seed: seed))
        let options = try store.storeOptions()
        let parent = try dir ?? Self.makeTemporaryDirectory()
        defer { if dir == nil { try? StorageDirectory.destroy(parent, fileSystem: options.fileSystem) } }

        print("storebench \(ToolVersion.current) run: \(records) records, \(keySize)-byte keys, \(valueSize)-byte values, durability \(options.durability.rawValue), seed \(seed)")
        print("jemalloc is the process allocator: \(ProcessMemory.jemallocIsProcessAllocator() ? "yes" : "no")\n")

        var phases = TextTable(headers: ["engine", "phase", "ops", "ops/s", "µs/op"])
        var summary = TextTable(headers: ["engine", "files", "disk", "write amp", "fsyncs", "jemalloc allocated", "jemalloc resident"])
        for engine in selected {
            let path = parent + "/" + engine.name
            let directory = StorageDirectory(path: path, fileSystem: options.fileSystem, metrics: StoreMetrics())
            if try directory.status(of: ".") != nil {
                throw ValidationError("\(path) already exists; each engine run needs a fresh directory (remove it or choose another --dir)")
            }
            let store = try engine.open(path, options)
            let results = try benchmark.run(on: store)
            let memory = ProcessMemory.allocator()
            let statistics = try store.statistics()
            let metrics = store.metrics.snapshot()
            try store.close()
            for phase in results {
                phases.append([engine.name, phase.name, NumberFormat.grouped(Double(phase.operations)),
                               NumberFormat.grouped(phase.opsPerSecond), NumberFormat.fixed(phase.microsecondsPerOp, places: 2)])
            }
            summary.append([
                engine.name, String(statistics.fileCount), ByteSize.format(statistics.diskBytes),
                metrics.writeAmplification.map { NumberFormat.fixed($0, places: 2) } ?? "-",
                String(metrics.syncs),
                memory.map { ByteSize.format($0.allocated) } ?? "n/a",
                memory.map { ByteSize.format($0.resident) } ?? "n/a",
            ])
            if dir == nil { try StorageDirectory.destroy(path, fileSystem: options.fileSystem) }
        }
        print(phases.render())
        print(summary.render())
        print("peak RSS: \(ByteSize.format(ProcessMemory.peakResidentBytes()))")
    }

    private static func makeTemporaryDirectory() throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/storebench-run-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw StoreError.io(call: "mkdtemp", errno: errno, path: base)
        }
        return String(cString: template)
    }
}
