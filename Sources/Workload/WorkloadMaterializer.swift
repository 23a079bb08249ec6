import Foundation
import StoreCore

/// Turns what `run` and `crash` are given — a storebench trace, a shipped spec name or a YCSB
/// properties file — into a trace file, so generation costs nothing during measurement and every
/// engine replays the same bytes.
public enum WorkloadMaterializer {
    public struct Materialized: Sendable {
        public var path: String
        public var header: TraceHeader
        /// The workload's short name (file name without extension).
        public var name: String
        /// What the spec holds that storebench does not use.
        public var warnings: [String]
    }

    /// A trace stays where it is; a spec (with `overrides` applied) is generated into `scratch`.
    public static func materialize(_ workload: String, seed: UInt64, overrides: [String: String] = [:], scratch: String) throws -> Materialized {
        if FileManager.default.fileExists(atPath: workload) && TraceReader.isTrace(path: workload) {
            let name = traceName(workload)
            let reader = try TraceReader(path: workload)
            guard reader.window.source.compression != nil else {
                return Materialized(path: workload, header: reader.header, name: name, warnings: [])
            }
            // Replay reads its trace many times over (load, run, crash children): decompress once.
            var source = reader
            let path = scratch + "/\(name).trace"
            let writer = try TraceWriter(path: path, header: reader.header)
            var operation = WorkloadOperation(.get)
            while try source.next(into: &operation) { try writer.append(operation) }
            try writer.finish()
            return Materialized(path: path, header: reader.header, name: name, warnings: [])
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
        return Materialized(path: path, header: header, name: name, warnings: spec.warnings)
    }

    /// A trace file's short name: without its directory, compression and format extensions.
    static func traceName(_ path: String) -> String {
        var url = URL(fileURLWithPath: path)
        if ["zst", "gz", "zstd"].contains(url.pathExtension.lowercased()) { url = url.deletingPathExtension() }
        return url.deletingPathExtension().lastPathComponent
    }
}
