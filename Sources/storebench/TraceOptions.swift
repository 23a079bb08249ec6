// The options every command that reads a trace shares: its format, bad records, and reshaping.
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

extension InputFormat: ExpressibleByArgument {
    /// Also takes libCacheSim's spelling, `oracleGeneral`.
    public init?(argument: String) {
        self.init(rawValue: argument.lowercased())
    }
}

extension CacheMapping: ExpressibleByArgument {}
extension TraceOutputFormat: ExpressibleByArgument {}
extension MergeMapping: ExpressibleByArgument {}

/// How input traces are read and mapped: shared by `workload convert`, `workload stats` and `run`.
struct ImportOptionGroup: ParsableArguments {
    @Option(help: "Skip up to N malformed lines or records (counted and reported); one more stops with its location.")
    var skipBad = 0

    @Flag(help: "Skip any number of malformed lines or records.")
    var skipInvalid = false

    @Option(help: "Entries a RocksDB iterator seek reads (its trace does not record it).")
    var scanCount = 10

    @Option(name: .customLong("as"), help: "A cache trace's requests (oraclegeneral): reads (gets only) or cache (a get, and on an object's first request a put of its size, as a cache fills on a miss).")
    var cache: CacheMapping = .reads

    @Option(help: "A RocksDB merge: put, rmw (read-modify-write) or error.")
    var merge: MergeMapping = .put

    func validate() throws {
        guard skipBad >= 0 else { throw ValidationError("--skip-bad must not be negative") }
        guard scanCount >= 1 else { throw ValidationError("--scan-count must be at least 1") }
    }

    var options: ImportOptions {
        ImportOptions(skipBad: skipInvalid ? Int.max : skipBad, scanCount: scanCount, cache: cache, merge: merge)
    }

    /// The options as given, for `run`'s recorded invocation.
    var arguments: [String] {
        var arguments: [String] = []
        if skipInvalid { arguments.append("--skip-invalid") } else if skipBad > 0 { arguments += ["--skip-bad", String(skipBad)] }
        if scanCount != 10 { arguments += ["--scan-count", String(scanCount)] }
        if cache != .reads { arguments += ["--as", cache.rawValue] }
        if merge != .put { arguments += ["--merge", merge.rawValue] }
        return arguments
    }
}

/// Reshaping a trace for replay: shared by `run` (on the trace it replays) and `workload convert`.
struct ReplayControlGroup: ParsableArguments {
    @Option(help: "Replay recorded time this many times faster (divides the trace's timestamps; with run, needs --pace recorded).")
    var speed: Double?

    @Option(help: "Each key becomes K keys (key#0 … key#K-1): loads write every copy, each later access goes to one copy by a seeded hash, keeping the popularity shape.")
    var scaleKeys = 1

    @Option(help: "Keep a fraction R of the keys with all their accesses (spatial sampling: hash(key) mod 2^24 < R·2^24).")
    var sample: Double?

    @Option(help: "Keep only START..END seconds of trace time (from the first timed operation after the load phase).")
    var window: String?

    func validate() throws {
        try controls(seed: 0).validate()
    }

    func controls(seed: UInt64) throws -> ReplayControls {
        ReplayControls(speed: speed, scaleKeys: scaleKeys, sample: sample,
                       window: try window.map { text throws(StoreError) in try ReplayControls.window(parsing: text) }, seed: seed)
    }

    var arguments: [String] {
        var arguments: [String] = []
        if let speed { arguments += ["--speed", String(speed)] }
        if scaleKeys != 1 { arguments += ["--scale-keys", String(scaleKeys)] }
        if let sample { arguments += ["--sample", String(sample)] }
        if let window { arguments += ["--window", window] }
        return arguments
    }
}
