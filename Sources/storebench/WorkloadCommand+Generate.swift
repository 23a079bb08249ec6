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

extension WorkloadCommand {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a trace from a workload spec (a YCSB properties file, or a shipped spec name).",
            discussion: "Shipped specs: \(EmbeddedWorkloads.specs.keys.sorted().joined(separator: ", ")). The same spec and seed give a byte-identical trace."
        )

        @Argument(help: "A spec file, or the name of a shipped spec (e.g. ycsb-a).")
        var spec: String

        @Option(name: .shortAndLong, help: "Output file.")
        var output: String

        @Option(help: "Seed of the generator (printed and recorded in the trace).")
        var seed: UInt64 = 1

        @Option(help: "Override recordcount.")
        var records: Int?

        @Option(help: "Override operationcount.")
        var ops: Int?

        @Option(help: "trace (binary) or jsonl.")
        var format: OutputFormat = .trace

        func run() throws {
            var spec = try WorkloadSpec.load(self.spec)
            for warning in spec.warnings { printWarning(warning) }
            if let records { spec.set("recordcount", String(records)); spec.set("num", String(records)) }
            if let ops { spec.set("operationcount", String(ops)) }
            let start = MonotonicClock.now()
            var (header, source) = try WorkloadGenerator.make(spec: spec, seed: seed)
            let count = try TraceConversion.write(&source, header: header, to: output, format: format)
            let seconds = MonotonicClock.seconds(since: start)
            print("generated \(count) operations from \(spec.name) with seed \(seed) into \(output) (\(header.loadOperations) load, \(count - header.loadOperations) run) in \(NumberFormat.fixed(seconds, places: 2)) s")
        }
    }
}
