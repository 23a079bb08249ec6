import ArgumentParser
import Engines
import Foundation
import Replay
import Report
import StoreCore

/// `storebench stress`: differential testing of engines against the `memory` oracle.
struct StressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Random operation sequences on each engine and on an in-memory oracle, compared after every step; a mismatch is shrunk to a short reproducer.",
        discussion: """
            Each round is a fresh store and a new seeded sequence of puts, deletes, batches, gets, scans, syncs, \
            compactions, reopens and crashes (abandoning the store as a killed process would). Results are \
            compared after every step and in full every 256 steps and after every reopen or crash. On a mismatch \
            the sequence is shrunk — steps removed while it still fails — and written as a trace \
            (--out/stress-ENGINE-SEED.trace) that `stress --replay` and `run` can replay; exit 1. Engines run with \
            their stress settings (small buffers, so maintenance happens) unless the command line sets one.
            """
    )

    @Option(help: "Engines: a comma-separated list of names, or `all` (ours).")
    var engines = "all"

    @Option(help: "Time budget per engine, in seconds.")
    var seconds: Double = 60

    @Option(help: "Steps per round (each round starts a fresh store).")
    var steps = 3_000

    @Option(help: "Seed of the first round (round k uses seed + k).")
    var seed: UInt64 = 1

    @Option(help: "Where a reproducer is written.")
    var out = "Results/runs"

    @Option(help: "Replay a reproducer written by an earlier run instead of random rounds.")
    var replay: String?

    @OptionGroup var store: StoreOptionGroup

    func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard steps > 0 else { throw ValidationError("--steps must be positive") }
    }

    func run() throws {
        let selected = try EngineRegistry.engines(matching: engines)
        let scratch = try TemporaryDirectory.make(prefix: "storebench-stress")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var table = TextTable(headers: ["engine", "rounds", "steps", "reopens", "crashes", "result"])
        var failed = false
        for engine in selected {
            var options = try store.storeOptions()
            options.settings = CrashCampaign.settings(for: engine, given: options.settings)
            let tester = StressTest(engine: engine, options: options, scratch: scratch)
            if let replay {
                let steps = try StressReproducer.read(replay)
                let mismatch = try tester.run(steps, name: "replay")
                table.append([engine.name, "1", String(steps.count), "", "", mismatch.map { "MISMATCH at \($0)" } ?? "agrees"])
                failed = failed || mismatch != nil
                continue
            }
            let summary = try tester.run(seconds: seconds, seed: seed, steps: steps)
            var result = "agrees"
            if let (roundSeed, shrunk, mismatch) = summary.failure {
                failed = true
                try StorageDirectory.createPath(out, fileSystem: PosixFileSystem())
                let path = "\(out)/stress-\(engine.name)-\(roundSeed).trace"
                try StressReproducer.write(shrunk, engine: engine.name, mismatch: mismatch.description, to: path)
                result = "MISMATCH (seed \(roundSeed)): \(mismatch); shrunk to \(shrunk.count) steps in \(path)"
            }
            table.append([engine.name, String(summary.rounds), NumberFormat.grouped(Double(summary.steps)), String(summary.reopens),
                          String(summary.crashes), result])
        }
        print(table.render(), terminator: "")
        if failed { throw ExitCode(1) }
    }
}
