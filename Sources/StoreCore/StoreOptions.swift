/// How a store is opened. Engine-specific settings travel as `name=value` strings so that the CLI
/// can pass them through untouched; each engine parses its own and rejects names it does not know.
public struct StoreOptions: Sendable {
    public var durability: Durability
    /// For `Durability.interval`: the longest time a commit may stay unsynced, in milliseconds.
    public var syncIntervalMilliseconds: Int
    /// Create the directory (and an empty store) when it does not exist.
    public var createIfMissing: Bool
    /// The file layer all I/O goes through; tests swap in a fault-injecting one.
    public var fileSystem: any FileSystem
    /// Engine-specific settings, e.g. `segment_size=64MiB`.
    public var settings: [String: String]
    /// For testing regression checks only: make every file write worse.
    public var degradation: Degradation?

    public init(
        durability: Durability = .always,
        syncIntervalMilliseconds: Int = 100,
        createIfMissing: Bool = true,
        fileSystem: any FileSystem = PosixFileSystem(),
        settings: [String: String] = [:]
    ) {
        self.durability = durability
        self.syncIntervalMilliseconds = syncIntervalMilliseconds
        self.createIfMissing = createIfMissing
        self.fileSystem = fileSystem
        self.settings = settings
        degradation = nil
    }

    /// Engine settings, checked against what `engine` understands. A name scoped to an engine,
    /// `lsm.write_buffer_size`, applies to that engine only (and wins over the unscoped name), so
    /// one command line can tune several engines.
    public func engineSettings(for engine: String, known: Set<String>) throws(StoreError) -> EngineSettings {
        var values: [String: String] = [:]
        var scoped: [String: String] = [:]
        for (name, value) in settings {
            if let dot = name.firstIndex(of: ".") {
                if name[..<dot] == engine { scoped[String(name[name.index(after: dot)...])] = value }
            } else {
                values[name] = value
            }
        }
        values.merge(scoped) { _, scoped in scoped }
        let unknown = values.keys.filter { !known.contains($0) }.sorted()
        if let first = unknown.first {
            let accepted = known.isEmpty ? "none" : known.sorted().joined(separator: ", ")
            throw .invalidArgument("engine `\(engine)` has no setting `\(first)` (it accepts: \(accepted))")
        }
        return EngineSettings(engine: engine, values: values)
    }
}

/// Typed access to an engine's `name=value` settings, with errors that name the setting.
public struct EngineSettings: Sendable {
    public let engine: String
    public let values: [String: String]

    /// An integer setting; accepts byte suffixes (`4KiB`, `64MiB`, `1GiB`, `k`, `m`, `g`).
    public func size(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws(StoreError) -> Int {
        guard let text = values[name] else { return fallback }
        guard let value = ByteSize.parse(text) else {
            throw .invalidArgument("\(engine) setting `\(name)`: `\(text)` is not a size (e.g. 4096, 64KiB, 8MiB)")
        }
        guard range.contains(value) else {
            throw .invalidArgument("\(engine) setting `\(name)`: \(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A fractional setting such as a ratio.
    public func fraction(_ name: String, default fallback: Double, range: ClosedRange<Double>) throws(StoreError) -> Double {
        guard let text = values[name] else { return fallback }
        guard let value = Double(text), range.contains(value) else {
            throw .invalidArgument("\(engine) setting `\(name)`: `\(text)` is not a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A yes/no setting: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`.
    public func flag(_ name: String, default fallback: Bool) throws(StoreError) -> Bool {
        guard let text = values[name] else { return fallback }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw .invalidArgument("\(engine) setting `\(name)`: `\(text)` is not true or false")
        }
    }

    /// A setting drawn from a fixed set of words.
    public func choice<T: RawRepresentable & CaseIterable>(_ name: String, default fallback: T) throws(StoreError) -> T
    where T.RawValue == String {
        guard let text = values[name] else { return fallback }
        guard let value = T(rawValue: text) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalidArgument("\(engine) setting `\(name)`: `\(text)` is not one of \(allowed)")
        }
        return value
    }
}

/// Parses human byte sizes: `4096`, `64KiB`, `8MiB`, `1GiB`, `4k`, `8m`, `1g` (binary multiples).
public enum ByteSize {
    public static func parse(_ text: String) -> Int? {
        let lowered = text.lowercased().filter { $0 != "_" }
        let suffixes: [(String, Int)] = [
            ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30),
            ("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30),
            ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1),
        ]
        for (suffix, multiplier) in suffixes where lowered.hasSuffix(suffix) {
            guard let number = Int(lowered.dropLast(suffix.count)) else { return nil }
            let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
            return overflow || number < 0 ? nil : product
        }
        guard let number = Int(lowered), number >= 0 else { return nil }
        return number
    }

    /// `1536` → `1.5 KiB`.
    public static func format(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return "\(rounded) \(units[unit])"
    }
}
