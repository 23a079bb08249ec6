import ArgumentParser
import StoreCore

extension Durability: ExpressibleByArgument {}

/// Options every command that opens a store shares.
struct StoreOptionGroup: ParsableArguments {
    @Option(help: "When commits reach stable storage: always (fdatasync per commit), interval, none.")
    var durability: Durability = .none

    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Engine setting NAME=VALUE (repeatable), e.g. --set segment_size=64MiB; ENGINE.NAME=VALUE applies to one engine only, e.g. --set lsm.write_buffer_size=1MiB.", valueName: "name=value"))
    var settings: [String] = []

    func storeOptions() throws -> StoreOptions {
        StoreOptions(durability: durability, settings: try Self.parse(settings))
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
