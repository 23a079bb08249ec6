import StoreCore

/// A workload spec in YCSB's properties format, which storebench reads unchanged: `key=value` (or
/// `key: value`, `key value`) per line, `#` and `!` comments, a trailing `\` continues a line.
/// Keys YCSB or storebench know are used; any other key gives a warning naming its line.
public struct WorkloadSpec: Sendable {
    /// Where the spec came from (a path, or `embedded:NAME`).
    public let name: String
    public private(set) var properties: [String: String] = [:]
    /// Line of each key, for messages.
    private var lines: [String: Int] = [:]
    /// Keys nobody uses, with their lines.
    public private(set) var warnings: [String] = []

    /// Keys of YCSB's core workload and client that a workload file may hold.
    static let ycsbKeys: Set<String> = [
        "workload", "db", "exporter", "exportfile", "threadcount", "target", "maxexecutiontime",
        "measurementtype", "measurement.interval", "histogram.buckets", "timeseries.granularity",
        "status.interval", "hdrhistogram.percentiles", "table", "recordcount", "operationcount",
        "fieldcount", "fieldlength", "fieldlengthdistribution", "fieldlengthhistogram", "fieldnameprefix",
        "readallfields", "readallfieldsbyname", "writeallfields", "dataintegrity", "readproportion",
        "updateproportion", "insertproportion", "scanproportion", "readmodifywriteproportion",
        "requestdistribution", "zipfianconstant", "minscanlength", "maxscanlength", "scanlengthdistribution",
        "insertorder", "insertstart", "insertcount", "zeropadding", "hotspotdatafraction", "hotspotopnfraction",
        "exponential.percentile", "exponential.frac", "core_workload_insertion_retry_limit",
        "core_workload_insertion_retry_interval", "keyprefix", "debug", "dotransactions",
    ]

    /// storebench's extensions (Workloads/README.md).
    static let extensionKeys: Set<String> = [
        "storebench.generator", "deleteproportion", "batchsize", "keysize", "valuesizedistribution",
        "minvaluesize", "benchmark", "num", "valuesize", "seek_nexts", "seed",
    ]

    public init(name: String, text: String) throws {
        self.name = name
        var pending = ""
        var pendingLine = 0
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(rawLine)
            if line.hasSuffix("\r") { line.removeLast() }
            if pending.isEmpty { pendingLine = index + 1 }
            if line.hasSuffix("\\") && !line.hasSuffix("\\\\") {
                pending += line.dropLast()
                continue
            }
            line = pending + line
            pending = ""
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard let first = trimmed.first, first != "#", first != "!" else { continue }
            guard let separator = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" || $0 == " " || $0 == "\t" }) else {
                throw WorkloadError.invalidSpec(file: name, line: pendingLine, reason: "`\(trimmed)` has no value")
            }
            let key = String(trimmed[..<separator])
            var value = trimmed[trimmed.index(after: separator)...].drop { $0 == " " || $0 == "\t" || $0 == "=" || $0 == ":" }
            while value.last == " " || value.last == "\t" { value = value.dropLast() }
            properties[key] = String(value)
            lines[key] = pendingLine
            if !Self.ycsbKeys.contains(key) && !Self.extensionKeys.contains(key) {
                warnings.append("\(name):\(pendingLine): unknown key `\(key)` ignored")
            }
        }
    }

    /// A spec from key-value pairs (for tests and command-line overrides).
    public init(name: String, _ values: [String: String]) {
        self.name = name
        properties = values
    }

    /// Sets or overrides one property (command-line options such as `--records`).
    public mutating func set(_ key: String, _ value: String) {
        properties[key] = value
    }

    public func string(_ key: String, default fallback: String) -> String {
        properties[key] ?? fallback
    }

    public func integer(_ key: String, default fallback: Int) throws -> Int {
        guard let text = properties[key] else { return fallback }
        guard let value = Int(text), value >= 0 else {
            throw WorkloadError.invalidSpec(file: name, line: lines[key], reason: "`\(key)` must be a non-negative integer, not `\(text)`")
        }
        return value
    }

    public func double(_ key: String, default fallback: Double) throws -> Double {
        guard let text = properties[key] else { return fallback }
        guard let value = Double(text), value >= 0, value.isFinite else {
            throw WorkloadError.invalidSpec(file: name, line: lines[key], reason: "`\(key)` must be a non-negative number, not `\(text)`")
        }
        return value
    }

    public func choice(_ key: String, default fallback: String, allowed: [String]) throws -> String {
        let value = properties[key] ?? fallback
        guard allowed.contains(value) else {
            throw WorkloadError.invalidSpec(file: name, line: lines[key], reason: "`\(key)` must be one of \(allowed.joined(separator: ", ")), not `\(value)`")
        }
        return value
    }

    func invalid(_ key: String, _ reason: String) -> WorkloadError {
        .invalidSpec(file: name, line: lines[key], reason: reason)
    }
}

extension WorkloadSpec {
    /// The spec at `nameOrPath`, or the shipped spec of that name (`ycsb-a`, `churn`, …).
    public static func load(_ nameOrPath: String, fileSystem: any FileSystem = PosixFileSystem()) throws -> WorkloadSpec {
        let (directory, file) = StorageDirectory.containing(nameOrPath, fileSystem: fileSystem)
        if let status = try directory.status(of: file), !status.isDirectory {
            return try WorkloadSpec(name: nameOrPath, text: String(decoding: try directory.readAll(file), as: UTF8.self))
        }
        let name = nameOrPath.hasSuffix(".properties") ? String(nameOrPath.dropLast(11)) : nameOrPath
        guard let text = EmbeddedWorkloads.specs[name] else {
            throw WorkloadError.invalidSpec(file: nameOrPath, line: nil, reason: "no such file, and no shipped spec of that name (shipped: \(EmbeddedWorkloads.specs.keys.sorted().joined(separator: ", ")))")
        }
        return try WorkloadSpec(name: name, text: text)
    }
}
