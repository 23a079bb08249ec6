import ArgumentParser
import Engines
import Foundation
import ProcessMemory
import Replay
import Report
import StoreCore

struct DBBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dbbench",
        abstract: "db_bench-style benchmarks on our engines, optionally beside RocksDB's db_bench in the same run.",
        discussion: """
            Benchmarks: \(DBBench.Phase.names.joined(separator: ", ")). `reopen` closes and reopens the \
            store (timing the open and measuring, through jemalloc, the bytes per key it holds); \
            `reopen:name=value` reopens with changed engine settings. With --compare-rocksdb, RocksDB's \
            db_bench (Debian package rocksdb-tools) runs the db_bench phases with the same parameters \
            (compression none, one thread, no sync) and the table gives our ops/s as a ratio of its ops/s.
            """
    )

    @Option(help: "Engines to run: a comma-separated list of names, or `all`.")
    var engines = "log"

    @Option(help: "Comma-separated benchmarks, run in order.")
    var benchmarks = "fillrandom,readrandom"

    @Option(help: "Key numbers are drawn from 0..<num; each phase makes num operations.")
    var num = 1_000_000

    @Option(help: "Key size in bytes (at least 8).")
    var keySize = 16

    @Option(help: "Value size in bytes.")
    var valueSize = 100

    @Option(help: "Puts per commit in the fill phases (db_bench's --batch_size): each group is one WriteBatch.")
    var batchSize = 1

    @Option(help: ArgumentHelp(ThreadCounts.help + " Each phase's operations are shared among the threads; writers own disjoint keys, so every read stays checked."))
    var threads = ThreadCounts([1])

    @Option(help: "Seed for keys, values and operation order.")
    var seed: UInt64 = 1

    @Option(help: "Rounds: each runs every engine once, in order; with more than one, the tables give the median and range of ops/s, and each engine's ratio to its peers (lsm: leveldb, rocksdb; cow: lmdb) round by round.")
    var repeats = 1

    @Option(help: "Parent directory for the store directories (default: a temporary directory, removed afterwards).")
    var dir: String?

    @Flag(help: "Also run RocksDB's db_bench with the same parameters and report ratios.")
    var compareRocksdb = false

    @Option(name: .customLong("rocksdb-arg"), parsing: .unconditionalSingleValue,
            help: "An extra db_bench argument (repeatable), e.g. --rocksdb-arg=--write_buffer_size=4194304.")
    var rocksdbArguments: [String] = []

    @Option(help: "Path of RocksDB's db_bench.")
    var dbBench = "/usr/bin/db_bench"

    @OptionGroup var store: StoreOptionGroup

    func validate() throws {
        guard num > 0 else { throw ValidationError("--num must be positive") }
        guard keySize >= 8 else { throw ValidationError("--key-size must be at least 8") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard (1...100).contains(repeats) else { throw ValidationError("--repeats must be from 1 to 100") }
    }

    func run() throws {
        let options = try store.storeOptions()
        let phases = try benchmarks.split(separator: ",").map { try DBBench.Phase(parsing: String($0)) }
        let selected = try StoreOptionGroup.engines(engines, options: options)
        print("storebench dbbench: num \(num), \(keySize)-byte keys, \(valueSize)-byte values, batches of \(batchSize), durability \(options.durability.rawValue), threads \(threads.defaultValueDescription), seed \(seed)\n")
        let (outcomes, rounds) = try DBBenchRunner.rounds(
            engines: selected,
            configuration: .init(num: num, keySize: keySize, valueSize: valueSize, batchSize: batchSize, seed: seed, threads: threads.counts[0]),
            threadCounts: threads.counts, repeats: repeats, phases: phases, options: options, parentDirectory: dir)
        if repeats == 1 {
            print(DBBenchTables.phaseTable(outcomes).render())
        } else {
            print("\(repeats) rounds; the last round's details follow the medians.\n")
            print(DBBenchTables.roundsTable(rounds).render())
            print(DBBenchTables.phaseTable(outcomes).render())
        }
        print(DBBenchTables.summaryTable(outcomes).render())
        let ratios = rounds.peerRatios(peers: DBBenchRunner.peers(among: selected))
        if !ratios.isEmpty {
            print("\nEach engine beside its peers (ops/s ratio, taken round by round):\n")
            print(DBBenchTables.peerTable(ratios).render())
        }
        if options.durability == .always {
            // Measured after the engines, on the same device, so the ratio compares like with like.
            let device = try Microbenchmarks.fsyncRates(seconds: 1)
            print("\nDevice: 4 KiB overwrite + fdatasync \(NumberFormat.grouped(device.overwrite))/s, 4 KiB append + fdatasync \(NumberFormat.grouped(device.append))/s (storebench microbench fsync, this run):\n")
            print(DBBenchTables.deviceTable(outcomes, overwriteRate: device.overwrite).render())
        }
        guard compareRocksdb else { return }

        let comparable = phases.map(\.description).filter { RocksDBBench.phases.contains($0) }
        guard !comparable.isEmpty else {
            print("no benchmark here has a db_bench counterpart")
            return
        }
        var references: [Int: DBBenchOutput] = [:]
        for count in threads.counts {
            references[count] = try RocksDBBench(path: dbBench, extraArguments: rocksdbArguments).run(
                benchmarks: comparable, num: num, keySize: keySize, valueSize: valueSize, batchSize: batchSize,
                sync: options.durability == .always, threads: count)
        }
        let reference = references[threads.counts[0]]!
        var table = TextTable(headers: ["benchmark", "threads", "engine", "ops/s", "rocksdb ops/s", "ratio"])
        for (engine, outcome) in outcomes {
            for result in outcome.results {
                guard let rocks = references[result.threads]?.rates[result.phase] else { continue }
                table.append([result.phase, String(result.threads), engine, NumberFormat.grouped(result.opsPerSecond),
                              NumberFormat.grouped(rocks), NumberFormat.fixed(result.opsPerSecond / rocks, places: 2) + "×"])
            }
        }
        print("Beside RocksDB db_bench (\(dbBench)\(rocksdbArguments.isEmpty ? "" : " " + rocksdbArguments.joined(separator: " ")), run just after, same machine):\n")
        print(table.render())
        if let rocksAmp = reference.writeAmplification {
            var amps = TextTable(headers: ["engine", "write amp", "how"])
            for (engine, outcome) in outcomes {
                amps.append([engine, outcome.metrics.writeAmplification.map { NumberFormat.fixed($0, places: 2) } ?? "-",
                             "file bytes written / user bytes (WAL, flushes, compactions)"])
            }
            amps.append(["rocksdb", NumberFormat.fixed(rocksAmp, places: 2), "(WAL + flush + compaction bytes) / ingest, from its stats"])
            if let levelAmp = reference.levelWriteAmplification {
                amps.append(["rocksdb", NumberFormat.fixed(levelAmp, places: 2), "W-Amp of its compaction-stats Sum line (flush and compaction only)"])
            }
            print("\nWrite amplification:\n")
            print(amps.render())
        }
    }
}
