import Foundation
import StoreCore

/// Turns what `run` and `crash` are given — a storebench trace, a shipped spec name or a YCSB
/// properties file — into a trace file, so generation costs nothing during measurement and every
/// engine replays the same bytes.
public enum WorkloadMaterializer {
    /// How `run` reads a trace file that is not a plain storebench trace, and what it reshapes.
    public struct TraceInput: Sendable {
        /// The file's format; `nil`: recognised (storebench, RocksDB, oracleGeneral traces).
        public var format: InputFormat?
        public var importing: ImportOptions
        public var controls: ReplayControls
        /// Keep whole-second timestamps as bursts instead of spreading them over their second.
        public var keepBursts: Bool

        public init(format: InputFormat? = nil, importing: ImportOptions = ImportOptions(), controls: ReplayControls = ReplayControls(), keepBursts: Bool = false) {
            self.format = format
            self.importing = importing
            self.controls = controls
            self.keepBursts = keepBursts
        }
    }

    public struct Materialized: Sendable {
        public var path: String
        public var header: TraceHeader
        /// The workload's short name (file name without extension).
        public var name: String
        /// What the spec holds that storebench does not use.
        public var warnings: [String]
    }

    /// A trace stays where it is; a spec (with `overrides` applied) is generated into `scratch`.
    /// A compressed trace, another format (`input.format`, or recognised: RocksDB and
    /// oracleGeneral traces) or any `input.controls` are converted into `scratch` in one streaming
    /// pass, since replay reads its trace several times (load, run, crash children).
    public static func materialize(_ workload: String, seed: UInt64, overrides: [String: String] = [:], scratch: String,
                                   input: TraceInput = TraceInput()) throws -> Materialized {
        if FileManager.default.fileExists(atPath: workload), let format = input.format ?? InputFormat.recognise(workload) {
            let name = traceName(workload)
            if format == .trace && input.controls.isEmpty && ByteSource.compression(of: workload) == nil {
                return Materialized(path: workload, header: try TraceReader(path: workload).header, name: name, warnings: [])
            }
            return try convert(workload, format: format, name: name, input: input, scratch: scratch)
        }
        var spec = try WorkloadSpec.load(workload)
        for (key, value) in overrides { spec.set(key, value) }
        var (header, source) = try WorkloadGenerator.make(spec: spec, seed: seed)
        let name = URL(fileURLWithPath: spec.name).deletingPathExtension().lastPathComponent
        let path = scratch + "/\(name).trace"
        let writer = try TraceWriter(path: path, header: header)
        var operation = WorkloadOperation(.get)
        while try source.next(into: &operation) { try writer.append(operation) }
        try writer.finish()
        if !input.controls.isEmpty {
            var controlled = try convert(path, format: .trace, name: name, input: input, scratch: scratch + "/controlled")
            controlled.warnings = spec.warnings + controlled.warnings
            return controlled
        }
        return Materialized(path: path, header: header, name: name, warnings: spec.warnings)
    }

    /// Streams `path` (of `format`) through the importer, the burst spreader for whole-second
    /// times, and the replay controls into `scratch/NAME.trace`.
    static func convert(_ path: String, format: InputFormat, name: String, input: TraceInput, scratch: String) throws -> Materialized {
        try StorageDirectory.createPath(scratch, fileSystem: PosixFileSystem())
        let probe = try Importer(path: path, format: format, options: input.importing)
        var header = probe.header
        let spread = probe.hasSecondTimestamps && !input.keepBursts
        if spread { header["timestamps"] = "whole seconds, spread evenly over each second" }
        if !input.controls.isEmpty { header["replay_controls"] = input.controls.description }
        let originalLoad = header.loadOperations
        if originalLoad > 0 && input.controls.changesCount {
            // How many operations the load phase becomes, counted first: the header comes first.
            var load = ReplayTransform(PrefixSource(try Importer(path: path, format: format, options: input.importing), count: originalLoad),
                                       controls: input.controls, loadOperations: originalLoad)
            var operation = WorkloadOperation(.get)
            var count = 0
            while try load.next(into: &operation) { count += 1 }
            header["load_operations"] = String(count)
        }
        let output = scratch + "/\(name).trace"
        let writer = try TraceWriter(path: output, header: header)
        func drain<S: OperationSource>(_ source: S) throws -> ReplayTransform<S> {
            var transform = ReplayTransform(source, controls: input.controls, loadOperations: originalLoad)
            var operation = WorkloadOperation(.get)
            do {
                while try transform.next(into: &operation) { try writer.append(operation) }
            } catch {
                writer.abandon()
                throw error
            }
            return transform
        }
        let importer = try Importer(path: path, format: format, options: input.importing)
        let used: Importer
        let transform: (untimed: Int, outsideWindow: Int, sampledOut: Int, consumed: Int)
        if spread {
            let done = try drain(BurstSpreader(importer))
            used = done.source.source
            transform = (done.untimed, done.outsideWindow, done.sampledOut, done.consumed)
        } else {
            let done = try drain(importer)
            used = done.source
            transform = (done.untimed, done.outsideWindow, done.sampledOut, done.consumed)
        }
        try writer.finish()
        var warnings: [String] = []
        if used.skipped > 0 {
            warnings.append("\(path): skipped \(used.skipped) malformed lines or records, e.g. " + used.skippedExamples.joined(separator: "; "))
        }
        if input.controls.window != nil && transform.untimed > 0 {
            warnings.append("\(path): --window kept \(transform.untimed) operations that record no time")
        }
        if input.controls.window != nil || input.controls.sample != nil {
            warnings.append("\(path): kept \(transform.consumed - transform.outsideWindow - transform.sampledOut) of \(transform.consumed) operations (\(transform.sampledOut) sampled out, \(transform.outsideWindow) outside the window)")
        }
        return Materialized(path: output, header: header, name: name, warnings: warnings)
    }

    /// A trace file's short name: without its directory, compression and format extensions.
    static func traceName(_ path: String) -> String {
        var url = URL(fileURLWithPath: path)
        if ["zst", "gz", "zstd"].contains(url.pathExtension.lowercased()) { url = url.deletingPathExtension() }
        return url.deletingPathExtension().lastPathComponent
    }
}
