import Foundation
import StoreCore

/// How a workload is written out: a storebench trace or JSON Lines.
public enum TraceOutputFormat: String, Sendable, CaseIterable {
    case trace, jsonl
}

/// `storebench workload convert`: a production trace (or a storebench trace) read as a stream and
/// written as a storebench trace or JSON Lines, with whole-second timestamps spread over their
/// second unless bursts are kept, and the replay controls (speed, key scaling, sampling, window)
/// applied as `run` applies them.
public enum TraceConversion {
    /// What a conversion did.
    public struct Outcome {
        public var operations: Int
        /// Malformed lines or records skipped (`--skip-bad`), and a few of them.
        public var skipped: Int
        public var skippedExamples: [String]
        public var warnings: [String]
    }

    /// Converts `input` (in `format`) into `output`. `scratch` holds the intermediate trace when
    /// controls apply.
    public static func convert(_ input: String, format: InputFormat, to output: String, as outputFormat: TraceOutputFormat,
                               importing: ImportOptions, controls: ReplayControls, keepBursts: Bool, seed: UInt64,
                               scratch: String) throws -> Outcome {
        let importer = try Importer(path: input, format: format, options: importing)
        var header = importer.header
        if header["created"] == nil { header["created"] = ISO8601Time.now() }
        if !controls.isEmpty {
            // The same streaming pass `run` makes, into the output (storebench trace format).
            guard outputFormat == .trace else {
                throw StoreError.invalidArgument("--speed, --scale-keys, --sample and --window write --to trace")
            }
            let materialized = try WorkloadMaterializer.materialize(
                input, seed: seed, scratch: scratch,
                input: .init(format: format, importing: importing, controls: controls, keepBursts: keepBursts))
            var reader = try TraceReader(path: materialized.path)
            let count = try write(&reader, header: materialized.header, to: output, format: .trace)
            return Outcome(operations: count, skipped: 0, skippedExamples: [], warnings: materialized.warnings)
        }
        if importer.hasSecondTimestamps && !keepBursts {
            header["timestamps"] = "whole seconds, spread evenly over each second"
            var spreader = BurstSpreader(importer)
            let count = try write(&spreader, header: header, to: output, format: outputFormat)
            return Outcome(operations: count, skipped: spreader.source.skipped, skippedExamples: spreader.source.skippedExamples, warnings: [])
        }
        if importer.hasSecondTimestamps { header["timestamps"] = "whole seconds (bursts kept)" }
        var source = importer
        let count = try write(&source, header: header, to: output, format: outputFormat)
        return Outcome(operations: count, skipped: source.skipped, skippedExamples: source.skippedExamples, warnings: [])
    }

    /// Writes every operation of `source` to `path` as a trace or JSON Lines.
    /// - Returns: the operations written.
    public static func write<Source: OperationSource>(_ source: inout Source, header: TraceHeader, to path: String,
                                                     format: TraceOutputFormat) throws -> Int {
        var operation = WorkloadOperation(.get)
        switch format {
        case .trace:
            let writer = try TraceWriter(path: path, header: header)
            while try source.next(into: &operation) { try writer.append(operation) }
            return try writer.finish()
        case .jsonl:
            let writer = try JSONLinesWriter(path: path)
            while try source.next(into: &operation) { try writer.append(operation) }
            return try writer.finish()
        }
    }
}
