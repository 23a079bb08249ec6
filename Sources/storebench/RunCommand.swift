import ArgumentParser
import Engines
import ProcessMemory
import Replay
import Report
import StoreCore

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a measured, self-checking benchmark on each engine and compare them side by side.",
        discussion: """
            Each engine gets a fresh directory and the same seeded sequence: \(RunCommand.defaultPhases.joined(separator: ", ")). \
            Every read is checked against what was written. The same seed gives the same keys, values and order.
            """
    )

    static let defaultPhases = ["fillrandom", "readrandom", "seekrandom", "overwrite", "deleterandom", "readrandom", "compact", "reopen", "readseq"]

    @Option(help: "Engines to run: a comma-separated list of names, or `all`.")
    var engines = "all"

    @Option(help: "Key numbers are drawn from 0..<records; each write phase makes this many writes.")
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
        let options = try store.storeOptions()
        let runner = BenchmarkRunner(
            engines: try EngineRegistry.engines(matching: engines),
            configuration: .init(num: records, keySize: keySize, valueSize: valueSize, seed: seed),
            phases: try Self.defaultPhases.map { try DBBench.Phase(parsing: $0) },
            options: options, parentDirectory: dir)
        print("storebench \(ToolVersion.current) run: \(records) records, \(keySize)-byte keys, \(valueSize)-byte values, durability \(options.durability.rawValue), seed \(seed)")
        print("jemalloc is the process allocator: \(ProcessMemory.jemallocIsProcessAllocator() ? "yes" : "no")\n")
        let outcomes = try runner.run()
        print(BenchmarkRunner.phaseTable(outcomes).render())
        print(BenchmarkRunner.summaryTable(outcomes).render())
        print("peak RSS: \(ByteSize.format(ProcessMemory.peakResidentBytes()))")
    }
}
