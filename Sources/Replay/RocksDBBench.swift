import Foundation
import StoreCore

/// Runs RocksDB's `db_bench` (Debian's rocksdb-tools) with the parameters of a `dbbench` run, and
/// reads its figures (`DBBenchOutput`).
public struct RocksDBBench: Sendable {
    /// Benchmarks with the same name and meaning in db_bench.
    public static let phases: Set<String> = ["fillseq", "fillrandom", "overwrite", "readrandom", "readseq", "readwhilewriting",
                                             "seekrandom", "deleterandom", "compact"]
    public let path: String
    public var extraArguments: [String] = []

    public init(path: String, extraArguments: [String] = []) {
        self.path = path
        self.extraArguments = extraArguments
    }

    /// The arguments for one run. With `threads` above 1, each db_bench thread makes
    /// `num / threads` writes and reads (`--writes`, `--reads`), so the total work matches ours
    /// (db_bench's own default gives every thread `num` operations).
    public func arguments(benchmarks: [String], num: Int, keySize: Int, valueSize: Int, batchSize: Int, sync: Bool,
                          threads: Int, database: String) -> [String] {
        [
            "--benchmarks=\((benchmarks + ["stats"]).joined(separator: ","))", "--num=\(num)", "--key_size=\(keySize)",
            "--value_size=\(valueSize)", "--compression_type=none", "--threads=\(threads)", "--db=\(database)",
            "--sync=\(sync ? 1 : 0)", "--seek_nexts=10", "--batch_size=\(batchSize)",
        ] + (threads > 1 ? ["--writes=\(max(1, num / threads))", "--reads=\(max(1, num / threads))"] : []) + extraArguments
    }

    public func run(benchmarks: [String], num: Int, keySize: Int, valueSize: Int, batchSize: Int, sync: Bool,
                    threads: Int = 1) throws -> DBBenchOutput {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw StoreError.unsupported("\(path) not found: install Debian's rocksdb-tools (apt-get install rocksdb-tools) or pass --db-bench PATH")
        }
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (status, printed) = try ChildProcess.run(
            path, arguments(benchmarks: benchmarks, num: num, keySize: keySize, valueSize: valueSize, batchSize: batchSize,
                            sync: sync, threads: threads, database: directory + "/db"),
            output: .captureAll)
        let output = String(decoding: printed, as: UTF8.self)
        guard status == 0 else {
            throw StoreError.invalidArgument("db_bench failed (exit \(status)):\n\(output)")
        }
        return DBBenchOutput(parsing: output)
    }
}

/// The figures of one db_bench run, read from what it prints.
public struct DBBenchOutput: Sendable, Equatable {
    /// ops/s per benchmark, from lines like
    /// `fillrandom   :       2.345 micros/op 426439 ops/sec 2.345 seconds 1000000 operations; …`.
    public var rates: [String: Double] = [:]
    /// Keys found by read benchmarks (`(12659 of 20000 found)`).
    public var found: [String: Int] = [:]
    /// (WAL + flush + compaction bytes written) / bytes ingested, from `stats`' cumulative lines
    /// (printed in GB with two decimals: coarse for runs of less than a few GB).
    public var writeAmplification: Double?
    /// The W-Amp column of the compaction-stats `Sum` line (flush and compaction only).
    public var levelWriteAmplification: Double?

    public init(parsing output: String) {
        var walGB: Double?
        var compactionGB: Double?
        var ingestGB: Double?
        for line in output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // `Cumulative compaction: 0.08 GB write, …` (flushes included), `Cumulative WAL: …
            // written: 0.12 GB, …`, `Cumulative writes: … ingest: 0.12 GB, …`.
            func number(after word: String) -> Double? {
                guard let index = fields.firstIndex(of: Substring(word)), index + 1 < fields.count else { return nil }
                return Double(fields[index + 1])
            }
            if line.hasPrefix("Cumulative compaction:"), fields.count > 2 { compactionGB = Double(fields[2]) }
            if line.hasPrefix("Cumulative WAL:") { walGB = number(after: "written:") }
            if line.hasPrefix("Cumulative writes:") { ingestGB = number(after: "ingest:") }
            if fields.first == "Sum", fields.count > 11 { levelWriteAmplification = Double(fields[11]) }
            guard fields.count >= 6, fields[1] == ":", fields[3] == "micros/op", fields[5] == "ops/sec",
                  let rate = Double(fields[4]) else { continue }
            let name = String(fields[0])
            rates[name] = rate
            if let of = fields.firstIndex(of: "of"), of > 0, let hits = Int(fields[of - 1].drop { $0 == "(" }) {
                found[name] = hits
            }
        }
        if let walGB, let compactionGB, let ingestGB, ingestGB > 0 {
            writeAmplification = (walGB + compactionGB) / ingestGB
        }
    }
}
