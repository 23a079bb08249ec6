import ArgumentParser
import Engines
import Foundation
import Replay
import StoreCore

extension Durability: ExpressibleByArgument {}

/// Options every command that opens a store shares.
struct StoreOptionGroup: ParsableArguments {
    @Option(help: "When commits reach stable storage: always (fdatasync per commit), interval, none (default: none; `crash`: always).")
    var durability: Durability?

    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Engine setting NAME=VALUE (repeatable), e.g. --set segment_size=64MiB; ENGINE.NAME=VALUE applies to one engine only, e.g. --set lsm.write_buffer_size=1MiB.", valueName: "name=value"))
    var settings: [String] = []

    /// - Parameter defaultDurability: what the command uses when `--durability` is not given.
    func storeOptions(defaultDurability: Durability = .none) throws -> StoreOptions {
        StoreOptions(durability: durability ?? defaultDurability, settings: try Self.parse(settings))
    }

    /// The engines `list` names (variants included), each opened once on an empty scratch
    /// directory with `options` so an unknown engine, setting or setting value is a usage error
    /// (exit 64) before any work starts, not a failure half-way through a run.
    static func engines(_ list: String, options: StoreOptions) throws -> [EngineDescriptor] {
        do {
            let selected = try EngineRegistry.engines(matching: list)
            let scratch = try TemporaryDirectory.make(prefix: "storebench-probe")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            for (index, engine) in selected.enumerated() {
                try engine.open(scratch + "/\(index)", options).close()
            }
            return selected
        } catch let StoreError.invalidArgument(message) {
            throw ValidationError(message)
        }
    }

    /// `NAME=VALUE` strings as a settings dictionary.
    static func parse(_ settings: [String]) throws -> [String: String] {
        var parsed: [String: String] = [:]
        for setting in settings {
            let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ValidationError("--set expects NAME=VALUE, got `\(setting)`")
            }
            parsed[parts[0]] = parts[1]
        }
        return parsed
    }
}

/// `--threads N` or a list `1,2,4,8`: each count is a separate run, so the report can draw
/// throughput and latency against threads.
struct ThreadCounts: ExpressibleByArgument, Equatable {
    /// More client threads than this is a typo, not a benchmark.
    static let maximum = 256
    let counts: [Int]

    init(_ counts: [Int]) { self.counts = counts }

    init?(argument: String) {
        var counts: [Int] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let count = Int(part), (1...Self.maximum).contains(count) else { return nil }
            if !counts.contains(count) { counts.append(count) }
        }
        guard !counts.isEmpty else { return nil }
        self.counts = counts
    }

    var defaultValueDescription: String { counts.map(String.init).joined(separator: ",") }

    static let help = "Client threads: a count from 1 to \(maximum), or a comma-separated list (1,2,4,8) to run each."
}
