/// A sweep file: a matrix of `storebench run` invocations, one cell per combination of the
/// values given.
///
/// ```
/// # engines × workloads × a setting × threads: 3 × 2 × 2 × 2 = 24 cells
/// workloads = ycsb-a, ycsb-c
/// engines = log, lsm, cow[commit=journal]
/// threads = 1, 4
/// set lsm.write_buffer_size = 1MiB, 4MiB
/// records = 10000
/// ops = 100000
/// durability = none
/// ```
///
/// Every line is `KEY = VALUE[, VALUE…]` (or `set NAME = VALUE[, VALUE…]`); a key with several
/// values is an axis of the matrix. Commas inside brackets belong to a variant's name. Blank
/// lines and `#` comments are skipped. Keys are `run`'s options.
public struct SweepPlan: Equatable, Sendable {
    /// One axis or fixed option: the `run` option and its values in the order written.
    public struct Axis: Equatable, Sendable {
        /// `--engines`, `--threads`, … or `--set NAME` (its values become `NAME=VALUE`).
        public var option: String
        public var setting: String?
        public var values: [String]
    }

    public struct Cell: Equatable, Sendable {
        /// 0-based position in the matrix: the same file always numbers its cells the same way.
        public var index: Int
        /// The `run` arguments but the output ones.
        public var arguments: [String]
        /// `KEY=VALUE` of each axis (keys with several values), for names and tables.
        public var coordinates: [(key: String, value: String)]

        public static func == (lhs: Cell, rhs: Cell) -> Bool {
            lhs.index == rhs.index && lhs.arguments == rhs.arguments
                && lhs.coordinates.elementsEqual(rhs.coordinates) { $0 == $1 }
        }

        /// A directory name: the index, then the coordinates, in characters safe in a path.
        public var name: String {
            let index = String(self.index)
            let padded = String(repeating: "0", count: max(0, 4 - index.count)) + index
            let parts = coordinates.map { "\($0.key)=\($0.value)" }
            let text = ([padded] + parts).joined(separator: "_")
            return String(text.map { $0.isLetter || $0.isNumber || "-_=.".contains($0) ? $0 : "-" })
        }
    }

    /// Options a sweep may set, and the `run` option each becomes.
    static let options: [String: String] = [
        "workload": "", "workloads": "", "engine": "--engines", "engines": "--engines", "threads": "--threads",
        "durability": "--durability", "records": "--records", "ops": "--ops", "value-size": "--value-size",
        "seed": "--seed", "pace": "--pace", "repeat": "--repeat", "kill-points": "--kill-points", "interval": "--interval",
        "warmup": "--warmup", "age": "--age", "percentiles": "--percentiles", "compressibility": "--compressibility",
    ]

    public var axes: [Axis]

    /// Parses a sweep file's text.
    /// - Throws: `SweepError` naming the file and line of the first malformed line.
    public init(parsing text: String, file: String) throws(SweepError) {
        var axes: [Axis] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard !line.trimmed.isEmpty else { continue }
            func fail(_ reason: String) -> SweepError { SweepError(file: file, line: number + 1, reason: reason) }
            guard let equals = line.firstIndex(of: "=") else { throw fail("expected KEY = VALUE[, VALUE…], got `\(line.trimmed)`") }
            let key = String(line[..<equals]).trimmed
            let values = Self.splitValues(String(line[line.index(after: equals)...]))
            guard !values.isEmpty, values.allSatisfy({ !$0.isEmpty }) else { throw fail("`\(key)` has an empty value") }
            var axis: Axis
            if key.hasPrefix("set ") {
                let setting = String(key.dropFirst(4)).trimmed
                guard !setting.isEmpty, !setting.contains(" ") else { throw fail("expected `set NAME = VALUE[, VALUE…]`") }
                axis = Axis(option: "--set", setting: setting, values: values)
                guard !axes.contains(where: { $0.setting == setting }) else { throw fail("`set \(setting)` is given twice") }
            } else {
                guard let option = Self.options[key] else {
                    let known = Self.options.keys.sorted().joined(separator: ", ")
                    throw fail("unknown key `\(key)` (known: \(known), set NAME)")
                }
                axis = Axis(option: option, setting: nil, values: values)
                guard !axes.contains(where: { $0.option == option && $0.setting == nil }) else { throw fail("`\(key)` is given twice") }
            }
            if axis.values.count != Set(axis.values).count { throw fail("`\(key)` lists a value twice") }
            axes.append(axis)
        }
        guard axes.contains(where: { $0.option == "--engines" }) else {
            throw SweepError(file: file, line: 0, reason: "no `engines = …` line: a sweep needs at least one engine")
        }
        self.axes = axes
    }

    /// Every cell, in a fixed order (the file's axes, the first varying slowest).
    public var cells: [Cell] {
        var cells: [Cell] = [Cell(index: 0, arguments: [], coordinates: [])]
        for axis in axes {
            var next: [Cell] = []
            for cell in cells {
                for value in axis.values {
                    var extended = cell
                    switch (axis.option, axis.setting) {
                    case ("", _): extended.arguments.insert(value, at: 0)
                    case let ("--set", setting?): extended.arguments += ["--set", "\(setting)=\(value)"]
                    default: extended.arguments += [axis.option, value]
                    }
                    if axis.values.count > 1 {
                        let key = axis.setting ?? (axis.option.isEmpty ? "workload" : String(axis.option.dropFirst(2)))
                        extended.coordinates.append((key, value))
                    }
                    next.append(extended)
                }
            }
            cells = next
        }
        return cells.enumerated().map { index, cell in
            var numbered = cell
            numbered.index = index
            return numbered
        }
    }

    /// The cells of shard `shard` (1-based) of `count`: every `count`-th cell, so shards of a
    /// matrix ordered by engine still get a share of each engine.
    public func cells(shard: Int, of count: Int) -> [Cell] {
        cells.filter { $0.index % count == shard - 1 }
    }

    /// Splits at commas outside brackets.
    static func splitValues(_ text: String) -> [String] {
        var values: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            if character == "[" { depth += 1 }
            if character == "]" { depth -= 1 }
            if character == ",", depth == 0 {
                values.append(current.trimmed)
                current = ""
            } else {
                current.append(character)
            }
        }
        values.append(current.trimmed)
        return values
    }
}

/// A malformed sweep file: where and why.
public struct SweepError: Error, CustomStringConvertible, Equatable {
    public var file: String
    /// 1-based; 0 for the file as a whole.
    public var line: Int
    public var reason: String
    public var description: String { line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)" }
}

extension StringProtocol {
    fileprivate var trimmed: String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" || first == "\r" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" || last == "\r" { slice = slice.dropLast() }
        return String(slice)
    }
}
