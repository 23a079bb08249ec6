import Foundation
import Testing
@testable import Replay

/// db_bench output captured on this project's machine (RocksDB 7.8.3, Debian's rocksdb-tools).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

@Suite("db_bench output")
struct RocksDBBenchTests {
    func output(_ name: String) throws -> DBBenchOutput {
        DBBenchOutput(parsing: try String(contentsOfFile: fixtures + "/" + name, encoding: .utf8))
    }

    @Test("rates, keys found and write amplification from a fill, a read and stats")
    func fillReadStats() throws {
        let parsed = try output("db_bench-fillrandom-readrandom-stats.txt")
        #expect(parsed.rates == ["fillrandom": 109158, "readrandom": 85600])
        #expect(parsed.found == ["readrandom": 126489])
        // Cumulative compaction 0.07 GB + WAL 0.02 GB over 0.02 GB ingested; W-Amp 3.2 on the Sum line.
        #expect(abs((parsed.writeAmplification ?? 0) - 4.5) < 1e-9)
        #expect(parsed.levelWriteAmplification == 3.2)
    }

    @Test("threads: readwhilewriting's longer name, progress lines run together with carriage returns")
    func threads() throws {
        let parsed = try output("db_bench-threads-readwhilewriting.txt")
        #expect(parsed.rates == ["fillseq": 95980, "readwhilewriting": 141048])
        #expect(parsed.found["readwhilewriting"] == 14151)
    }

    @Test("arguments: the same total work at any thread count")
    func arguments() {
        let bench = RocksDBBench(path: "/usr/bin/db_bench", extraArguments: ["--write_buffer_size=4194304"])
        let one = bench.arguments(benchmarks: ["fillrandom"], num: 1000, keySize: 16, valueSize: 100, batchSize: 1, sync: false, threads: 1, database: "/d")
        #expect(one.contains("--threads=1") && !one.contains { $0.hasPrefix("--writes=") } && one.last == "--write_buffer_size=4194304")
        #expect(one.first == "--benchmarks=fillrandom,stats")
        let four = bench.arguments(benchmarks: ["readrandom"], num: 1000, keySize: 16, valueSize: 100, batchSize: 1, sync: true, threads: 4, database: "/d")
        #expect(four.contains("--writes=250") && four.contains("--reads=250") && four.contains("--sync=1"))
    }

    @Test("nothing recognisable gives no figures rather than wrong ones")
    func garbage() {
        let parsed = DBBenchOutput(parsing: "fillrandom : fast\nSum 1/0\nCumulative writes: nothing\n")
        #expect(parsed.rates.isEmpty && parsed.writeAmplification == nil && parsed.levelWriteAmplification == nil)
    }
}
