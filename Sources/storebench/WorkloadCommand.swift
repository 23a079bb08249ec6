#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import ProcessMemory
import Replay
import Report
import StoreCore
import Workload

struct WorkloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workload",
        abstract: "Generate, convert and inspect workloads (specs and traces).",
        subcommands: [Generate.self, Convert.self, Stats.self]
    )

    typealias OutputFormat = TraceOutputFormat

    static func materialize(_ workload: String, seed: UInt64, overrides: [String: String] = [:], scratch: String,
                            input: WorkloadMaterializer.TraceInput = .init()) throws
        -> (path: String, header: TraceHeader, name: String)
    {
        let materialized = try WorkloadMaterializer.materialize(workload, seed: seed, overrides: overrides, scratch: scratch, input: input)
        for warning in materialized.warnings { printWarning(warning) }
        return (materialized.path, materialized.header, materialized.name)
    }

    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a production trace (Twitter, CacheLib, RocksDB text or binary, libCacheSim oracleGeneral, JSON Lines) or a storebench trace.",
            discussion: "Inputs may be zstd- or gzip-compressed (recognised by their magic bytes). A malformed line or record stops the conversion with its file:line or byte offset and the reason, unless --skip-bad N (or --skip-invalid, any number) counts and reports it."
        )

        @Argument(help: "Input file (zstd- or gzip-compressed or not).")
        var input: String

        @Option(help: "Input format: twitter, cachelib, rocksdb, rocksdb-trace, oraclegeneral, jsonl or trace (default: recognised from the file).")
        var from: InputFormat?

        @Option(name: .shortAndLong, help: "Output file.")
        var output: String

        @Option(help: "trace (binary) or jsonl.")
        var to: OutputFormat = .trace

        @OptionGroup var importing: ImportOptionGroup

        @OptionGroup var controls: ReplayControlGroup

        @Option(help: "Seed of --scale-keys and --sample.")
        var seed: UInt64 = 1

        @Flag(help: "Keep whole-second timestamps (twitter, cachelib, oraclegeneral) as they are: each second's operations then replay as one burst. By default they are spread evenly over their second.")
        var keepBursts = false

        func run() throws {
            let start = MonotonicClock.now()
            guard let format = from ?? InputFormat.recognise(input) else {
                throw ValidationError("\(input): give its format with --from (twitter, cachelib, rocksdb, rocksdb-trace, oraclegeneral, jsonl, trace)")
            }
            let scratch = try TemporaryDirectory.make()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let outcome: TraceConversion.Outcome
            do {
                outcome = try TraceConversion.convert(
                    input, format: format, to: output, as: to, importing: importing.options, controls: try controls.controls(seed: seed),
                    keepBursts: keepBursts, seed: seed, scratch: scratch)
            } catch let StoreError.invalidArgument(message) {
                throw ValidationError(message)
            }
            for warning in outcome.warnings { printWarning(warning) }
            let count = outcome.operations
            let skipped = (count: outcome.skipped, examples: outcome.skippedExamples)
            let seconds = MonotonicClock.seconds(since: start)
            print("converted \(count) operations from \(input) (\(format.rawValue)) into \(output) in \(NumberFormat.fixed(seconds, places: 2)) s (\(NumberFormat.grouped(Double(count) / max(seconds, 1e-9))) ops/s, peak RSS \(ByteSize.format(ProcessMemory.peakResidentBytes())))")
            if skipped.count > 0 {
                print("skipped \(skipped.count) malformed lines or records, e.g.:")
                for example in skipped.examples { print("  \(example)") }
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Op mix, distinct keys, key and value sizes and key popularity of a trace."
        )

        @Argument(help: "A trace, or another format with --from.")
        var input: String

        @Option(help: "Input format (default: recognised from the file, a storebench trace or a RocksDB trace).")
        var from: InputFormat?

        @OptionGroup var importing: ImportOptionGroup

        @Option(help: "Operations per working-set window.")
        var workingSetWindow = 100_000

        @Option(help: "Also write the statistics as an HTML page (popularity, working set, value sizes).")
        var html: String?

        func run() throws {
            let start = MonotonicClock.now()
            // Unrecognised input is read as a storebench trace, whose reader says what is wrong.
            let format = from ?? InputFormat.recognise(input) ?? .trace
            var importer = try Importer(path: input, format: format, options: importing.options)
            guard workingSetWindow >= 1 else { throw ValidationError("--working-set-window must be at least 1") }
            let statistics = try TraceStatistics(reading: &importer, windowOperations: workingSetWindow)
            let seconds = MonotonicClock.seconds(since: start)
            print("\(input): \(statistics.operations) operations, read in \(NumberFormat.fixed(seconds, places: 2)) s (\(NumberFormat.grouped(Double(statistics.operations) / max(seconds, 1e-9))) ops/s)")
            for field in importer.header.fields { print("  \(field.name): \(field.value)") }
            print("")
            var mix = TextTable(headers: ["op", "count", "share"])
            for kind in WorkloadOperation.Kind.allCases where statistics.byKind[kind] != nil {
                mix.append([kind.description, NumberFormat.grouped(Double(statistics.byKind[kind]!)), NumberFormat.fixed(statistics.share(of: kind) * 100, places: 2) + "%"])
            }
            print(mix.render())
            var sizes = TextTable(headers: ["size", "min", "p50", "p99", "max", "mean"])
            for (name, distribution) in [("key", statistics.keySizes), ("value", statistics.valueSizes)] where distribution.count > 0 {
                sizes.append([name, String(distribution.minimum ?? 0), String(distribution.percentile(0.5) ?? 0),
                              String(distribution.percentile(0.99) ?? 0), String(distribution.maximum ?? 0),
                              NumberFormat.fixed(distribution.mean, places: 1)])
            }
            print(sizes.render())
            print("distinct keys: \(NumberFormat.grouped(Double(statistics.distinctKeys)))")
            print("accesses to the hottest 1 / 10 / 100 / 1% of keys: "
                + [1, 10, 100, max(1, statistics.distinctKeys / 100)].map { NumberFormat.fixed(statistics.topShare($0) * 100, places: 2) + "%" }.joined(separator: " / "))
            if let exponent = statistics.zipfExponent() {
                print("Zipf fit of key popularity (keys accessed at least 5 times): s = \(NumberFormat.fixed(exponent, places: 3))")
            }
            if let first = statistics.firstTimestamp, let last = statistics.lastTimestamp {
                print("time span: \(NumberFormat.fixed(Double(last) / 1e6 - Double(first) / 1e6, places: 3)) s")
            }
            let gaps = statistics.interArrivals
            if gaps.count > 0 {
                print("µs between operations: p50 \(gaps.percentile(0.5) ?? 0), p99 \(gaps.percentile(0.99) ?? 0), max \(gaps.maximum ?? 0), mean \(NumberFormat.fixed(gaps.mean, places: 1))")
            }
            if statistics.workingSet.count > 1 {
                let distinct = statistics.workingSet.map(\.distinctKeys)
                let fresh = statistics.workingSet.map(\.newKeys)
                print("working set per \(NumberFormat.grouped(Double(workingSetWindow))) operations: distinct keys min \(distinct.min()!), max \(distinct.max()!); new keys first \(fresh.first!), last \(fresh.last!)")
            }
            if importer.skipped > 0 {
                print("skipped \(importer.skipped) malformed lines or records, e.g.:")
                for example in importer.skippedExamples { print("  \(example)") }
            }
            if let html {
                let page = TraceStatisticsPage.render(statistics, title: input, header: importer.header)
                let writer = try AtomicFileWriter(path: html, fileSystem: PosixFileSystem())
                try writer.write(Array(page.utf8))
                try writer.finish()
                print("wrote \(html)")
            }
        }
    }
}
