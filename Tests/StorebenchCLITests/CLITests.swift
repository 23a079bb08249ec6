import Engines
import Foundation
import ProcessMemory
import Report
import ResultsSchema
import StoreCore
import StoreTestSupport
import Testing
import Workload

@Suite("storebench command line")
struct CLITests {
    @Test("--version prints the version")
    func version() throws {
        let (status, output) = try StorebenchProcess.run(["--version"])
        #expect(status == 0)
        #expect(output.contains("0."))
    }

    @Test("engines lists every registered engine with its strategy")
    func engines() throws {
        let (status, output) = try StorebenchProcess.run(["engines"])
        #expect(status == 0)
        for engine in EngineRegistry.all {
            #expect(output.contains(engine.name) && output.contains(engine.strategy))
        }
    }

    @Test("unknown subcommands and options print usage and exit 64", arguments: [
        ["frobnicate"], ["run", "--no-such-option"], ["run", "--records", "abc"],
        ["run", "--threads", "0"], ["run", "--threads", "-2"], ["run", "--threads", "257"], ["run", "--threads", "1,x"],
        ["run", "--readers", "2"], ["run", "--readers", "0", "--writers", "2"], ["run", "--threads", "2", "--readers", "1", "--writers", "1"],
        ["dbbench", "--threads", "0"], ["crash", "--threads", "0"], ["run", "--durability", "sometimes"], ["crash", "--durability", "sometimes"],
    ])
    func usageErrors(arguments: [String]) throws {
        let (status, output) = try StorebenchProcess.run(arguments)
        #expect(status == 64, "\(arguments): \(output)")
        #expect(output.contains("Usage") || output.contains("Help"), "\(output)")
    }

    @Test("an unknown engine, setting or setting value, or a malformed variant, is a usage error naming it",
          arguments: [
              (["run", "--engines", "nosuch", "--records", "10"], "unknown engine `nosuch`"),
              (["run", "--engines", "log,lsm[colour=blue]", "--records", "10"], "has no setting `colour`"),
              (["dbbench", "--engines", "cow[chunk_size=3]", "--num", "10"], "chunk_size"),
              (["run", "--engines", "lsm[write_buffer_size", "--records", "10"], "ENGINE[NAME=VALUE"),
          ])
    func unknownEngine(arguments: [String], message: String) throws {
        let (status, output) = try StorebenchProcess.run(arguments)
        #expect(status == 64)
        #expect(output.contains(message), "\(output)")
    }

    @Test("variants run side by side under their own names")
    func variantsSideBySide() throws {
        let scratch = try ScratchDirectory("cli-variants")
        defer { scratch.remove() }
        let (status, output) = try StorebenchProcess.run([
            "run", "default", "--engines", "lsm,lsm[write_buffer_size=64KiB]", "--records", "500", "--ops", "4000",
            "--kill-points", "0", "--out", scratch.path,
        ])
        #expect(status == 0, "\(output)")
        #expect(output.contains("\nlsm[write_buffer_size=64KiB] "), "\(output)")
        let directory = try #require(try FileManager.default.contentsOfDirectory(atPath: scratch.path).first { $0.hasSuffix("-default") })
        let results = try Results.decode(Data(contentsOf: URL(fileURLWithPath: scratch.path + "/" + directory + "/results.json")))
        #expect(results.runs.map(\.engine) == ["lsm", "lsm[write_buffer_size=64KiB]"])
        // The small memtable flushes where the default one does not: the variant really ran.
        #expect(results.runs[1].io.fsyncs ?? 0 > results.runs[0].io.fsyncs ?? 0)
    }

    @Test("run replays a workload on every engine, prints the comparison and writes the three outputs")
    func mainJob() throws {
        let scratch = try ScratchDirectory("cli-run")
        let (status, output) = try StorebenchProcess.run(["run", "--records", "2000", "--ops", "20000", "--out", scratch.path, "--kill-points", "2", "--durability", "always"])
        #expect(status == 0, "\(output)")
        for engine in EngineRegistry.ours.map(\.name) {
            #expect(output.contains("\n\(engine) "), "\(engine) has a row: \(output)")
        }
        #expect(output.contains("durability always") && output.contains("jemalloc") && output.contains("harness overhead"), "\(output)")
        let runs = try FileManager.default.contentsOfDirectory(atPath: scratch.path)
        let directory = try #require(runs.first { $0.hasSuffix("-default") })
        let base = scratch.path + "/" + directory
        let results = try Results.decode(Data(contentsOf: URL(fileURLWithPath: base + "/results.json")))
        #expect(results.schema == "storebench.results/1")
        #expect(results.runs.map(\.engine) == EngineRegistry.ours.map(\.name))
        #expect(results.options.durability == "always")
        for run in results.runs {
            #expect(run.ops > 0 && run.opsPerS > 0 && run.byOp["all"]?.count == run.ops)
            #expect(!run.timeseries.t.isEmpty)
            #expect((run.memory.allocatedBytes ?? 0) > 0, "jemalloc figure for \(run.engine)")
            #expect((run.resources?.cpuUsPerOp ?? 0) > 0 && run.resources?.writeCalls != nil, "CPU and I/O figures for \(run.engine)")
        }
        let log = try #require(results.runs.first { $0.engine == "log" })
        #expect(log.recovery.crashVerified == true && log.recovery.lostCommits == 0 && log.recovery.killPoints == 2)
        #expect(log.io.fsyncs ?? 0 >= log.byOp["put"]?.count ?? 0, "durability always syncs every commit")
        let html = try String(contentsOfFile: base + "/report.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)
        let csv = try String(contentsOfFile: base + "/timeseries.csv", encoding: .utf8)
        #expect(csv.hasPrefix("engine,repetition,t_s,ops_per_s,p99_us,disk_bytes"))
        let (regenerated, message) = try StorebenchProcess.run(["report", base + "/results.json", "-o", scratch.child("again.html"), "--format", "none"])
        #expect(regenerated == 0, "\(message)")
        #expect(try String(contentsOfFile: scratch.child("again.html"), encoding: .utf8) == html)
    }

    @Test("results name the commit the executable was built from, even when it runs outside the checkout")
    func commitStampedAtBuild() throws {
        let scratch = try ScratchDirectory("cli-commit")
        // A copy outside any git checkout: a commit read from git at run time would be `unknown` here.
        let copy = scratch.child("storebench")
        try FileManager.default.copyItem(atPath: StorebenchProcess.executablePath, toPath: copy)
        let (status, output) = try StorebenchProcess.execute(copy, [
            "run", "--engines", "memory", "--records", "100", "--ops", "500", "--kill-points", "0", "--out", scratch.path,
        ])
        #expect(status == 0, "\(output)")
        let directory = try #require(try FileManager.default.contentsOfDirectory(atPath: scratch.path).first { $0.hasSuffix("-default") })
        let results = try Results.decode(Data(contentsOf: URL(fileURLWithPath: scratch.path + "/" + directory + "/results.json")))
        let commit = results.tool.commit
        let checkout = #filePath.components(separatedBy: "/Tests/")[0]
        let (gitStatus, head) = try StorebenchProcess.execute("/usr/bin/env", ["git", "-C", checkout, "rev-parse", "HEAD"])
        if gitStatus == 0 {
            let hash = head.trimmingCharacters(in: .whitespacesAndNewlines)
            let stamped = commit.split(separator: "-").first.map(String.init) ?? ""
            #expect(stamped.count >= 7 && hash.hasPrefix(stamped), "results say \(commit), the checkout is at \(hash)")
        } else {
            #expect(commit == "unknown")
        }
    }

    @Test("a second process cannot open a store that is open here: it says locked and exits non-zero")
    func lockedAcrossProcesses() throws {
        let scratch = try ScratchDirectory("cli-lock")
        let path = scratch.child("store")
        let store = try EngineRegistry.engine(named: "memory").open(path, StoreOptions())
        let (status, output) = try StorebenchProcess.run(["verify", path])
        #expect(status == 1, "\(output)")
        #expect(output.contains("is locked by process"), "\(output)")
        try store.close()
        let (after, report) = try StorebenchProcess.run(["verify", path])
        #expect(after == 0, "\(report)")
        #expect(report.contains("engine:      memory"), "\(report)")
    }

    @Test("verify of a directory that is not a store names the problem")
    func verifyForeign() throws {
        let scratch = try ScratchDirectory("cli-foreign")
        let (status, output) = try StorebenchProcess.run(["verify", scratch.path])
        #expect(status == 1)
        #expect(output.contains("is not a storebench store"), "\(output)")
        let (missing, message) = try StorebenchProcess.run(["verify", scratch.child("absent")])
        #expect(missing == 1)
        #expect(message.contains("does not exist"), "\(message)")
    }

    /// A store on a read-only file system (root, where mounting works) or in a directory without
    /// write permission (any other user): every engine's open fails with the path and the system
    /// error, and the files are left as they were.
    @Test("verify of a store in a read-only directory names the path and fails, for every engine")
    func readOnlyDirectory() throws {
        let scratch = try ScratchDirectory("cli-read-only")
        let root = scratch.child("fs")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let asRoot = getuid() == 0
        if asRoot {
            guard run("/bin/mount", ["-t", "tmpfs", "tmpfs", root]) else {
                // A container without CAP_SYS_ADMIN: root ignores permissions, so the command line is
                // not tried here; every engine meets a read-only file system in-process instead
                // (`FaultTests.readOnlyFileSystem`, through `ReadOnlyFileSystem`).
                withKnownIssue("mounting is not permitted here, and root ignores directory permissions") { throw SkipReason() }
                return
            }
        }
        defer {
            if asRoot { _ = run("/bin/umount", [root]) } else { _ = chmod(root, 0o755) }
        }
        let engines = EngineRegistry.ours.filter(\.isPersistent)
        var before: [String: [String]] = [:]
        for engine in engines {
            let path = root + "/" + engine.name
            let store = try engine.open(path, StoreOptions(durability: .always))
            for index in 0..<200 { try store.put(bytes("key-\(index)"), bytes("value-\(index)")) }
            try store.close()
            before[engine.name] = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        }
        if asRoot {
            #expect(run("/bin/mount", ["-o", "remount,ro", root]))
        } else {
            for engine in engines { _ = chmod(root + "/" + engine.name, 0o555) }
        }
        for engine in engines {
            let path = root + "/" + engine.name
            let (status, output) = try StorebenchProcess.run(["verify", path])
            #expect(status == 1, "\(engine.name): \(output)")
            #expect(output.contains(path) && (output.contains("Read-only file system") || output.contains("Permission denied")), "\(engine.name): \(output)")
            #expect(!output.contains("Fatal error"), "\(engine.name): \(output)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: path).sorted() == before[engine.name], "\(engine.name): files unchanged")
        }
        // Creating a new store there fails the same way.
        let (status, output) = try StorebenchProcess.run(["run", "--engines", "log", "--records", "100", "--ops", "100", "--dir", root + "/new", "--out", scratch.child("out")])
        #expect(status != 0 && output.contains(root + "/new"), "\(output)")
    }

    struct SkipReason: Error {}

    private func run(_ tool: String, _ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    @Test("jemalloc is the allocator of processes that link ProcessMemory")
    func jemalloc() throws {
        #expect(ProcessMemory.jemallocIsProcessAllocator())
        let statistics = try #require(ProcessMemory.allocator())
        #expect(statistics.allocated > 0 && statistics.resident >= statistics.allocated / 2)
        #expect(ProcessMemory.peakResidentBytes() > 1 << 20)
        #expect((ProcessMemory.currentResidentBytes() ?? 0) > 1 << 20)
    }

    @Test("a peak starts again after resetPeak: memory an earlier engine freed is not the next one's peak")
    func peakReset() throws {
        // 160 MiB touched and freed: the process's peak now includes it.
        do {
            let size = 160 << 20
            let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
            for offset in stride(from: 0, to: size, by: 4096) { block.storeBytes(of: 1, toByteOffset: offset, as: UInt8.self) }
            block.deallocate()
        }
        let before = try #require(ProcessMemory.peakResidentSinceReset())
        #expect(ProcessMemory.resetPeak())
        let after = try #require(ProcessMemory.peakResidentSinceReset())
        #expect(after < before - (100 << 20), "peak \(before >> 20) MiB before the reset, \(after >> 20) MiB after")
    }
}

@Suite("storebench workload")
struct WorkloadCLITests {
    @Test("generate twice with one seed gives the same file; stats reads it back")
    func generateAndStats() throws {
        let scratch = try ScratchDirectory("cli-workload")
        for name in ["a", "b"] {
            let (status, output) = try StorebenchProcess.run(["workload", "generate", "ycsb-b", "-o", scratch.child(name), "--records", "500", "--ops", "5000", "--seed", "9"])
            #expect(status == 0, "\(output)")
            #expect(output.contains("with seed 9"), "\(output)")
        }
        let first = try Data(contentsOf: URL(fileURLWithPath: scratch.child("a")))
        #expect(first == (try Data(contentsOf: URL(fileURLWithPath: scratch.child("b")))))
        let (status, stats) = try StorebenchProcess.run(["workload", "stats", scratch.child("a")])
        #expect(status == 0)
        #expect(stats.contains("5500 operations") && stats.contains("source: ycsb:ycsb-b") && stats.contains("distinct keys: 500"), "\(stats)")
    }

    @Test("a malformed line stops convert with file:line and exit 1; --skip-invalid reports it")
    func malformedConvert() throws {
        let scratch = try ScratchDirectory("cli-convert")
        let input = scratch.child("bad.csv")
        try Data("0,k,1,10,1,get,0\n1,k,1,ten,1,set,0\n".utf8).write(to: URL(fileURLWithPath: input))
        let (status, output) = try StorebenchProcess.run(["workload", "convert", input, "--from", "twitter", "-o", scratch.child("out")])
        #expect(status == 1, "\(output)")
        #expect(output.contains("\(input):2: value size `ten`"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: scratch.child("out")), "no output file for a failed conversion")
        let (skipped, report) = try StorebenchProcess.run(["workload", "convert", input, "--from", "twitter", "-o", scratch.child("out"), "--skip-invalid"])
        #expect(skipped == 0, "\(report)")
        #expect(report.contains("converted 1 operations") && report.contains("skipped 1 malformed lines"), "\(report)")
        let (unknown, message) = try StorebenchProcess.run(["workload", "generate", "nosuchspec", "-o", scratch.child("x")])
        #expect(unknown == 1 && message.contains("no shipped spec of that name"), "\(message)")
    }
}

@Suite("storebench run: recovery and counters")
struct RunVerificationTests {
    /// Runs `storebench run` and returns its results.
    func run(_ arguments: [String], in scratch: ScratchDirectory) throws -> Results {
        let (status, output) = try StorebenchProcess.run(["run"] + arguments + ["--out", scratch.child("out"), "--format", "json"])
        #expect(status == 0, "\(output)")
        return try Results.decode(Data(output.utf8))
    }

    @Test("durability always: 20 seeded kills, every persistent engine recovers every acknowledged commit, no partial batch")
    func crashRecovery() throws {
        let scratch = try ScratchDirectory("cli-crash")
        let spec = scratch.child("batched.properties")
        try Data("""
            recordcount=600
            operationcount=2500
            fieldcount=1
            fieldlength=80
            readproportion=0.2
            updateproportion=0.4
            deleteproportion=0.2
            readmodifywriteproportion=0.2
            batchsize=4
            requestdistribution=zipfian
            """.utf8).write(to: URL(fileURLWithPath: spec))
        let results = try run([spec, "--durability", "always", "--kill-points", "20", "--seed", "11"], in: scratch)
        let persistent = EngineRegistry.ours.filter(\.isPersistent).map(\.name)
        #expect(!persistent.isEmpty)
        for name in persistent {
            let recovery = try #require(results.runs.first { $0.engine == name }?.recovery)
            #expect(recovery.killPoints == 20, "\(name)")
            #expect(recovery.kills >= 15, "\(name): most kill points fall before the end (\(recovery.kills) of 20)")
            #expect(recovery.lostCommits == 0, "\(name) lost \(recovery.lostCommits ?? -1) commits")
            #expect(recovery.partialBatches == 0, "\(name)")
            #expect(recovery.crashVerified == true, "\(name)")
            #expect((recovery.crashOpenMs ?? -1) >= 0)
        }
    }

    @Test("what a reference library cannot report is null and shown as –, not 0")
    func unknownIsNull() throws {
        guard EngineRegistry.names.contains("lmdb") else { return }
        let scratch = try ScratchDirectory("cli-unknown")
        let results = try run(["--engines", "log,lmdb", "--records", "1000", "--ops", "5000", "--kill-points", "0"], in: scratch)
        let lmdb = try #require(results.runs.first { $0.engine == "lmdb" })
        #expect(lmdb.io.fsyncs == nil && lmdb.pauses == nil && lmdb.io.fsyncsPerCommit == nil)
        let log = try #require(results.runs.first { $0.engine == "log" })
        #expect(log.io.fsyncs != nil && log.pauses != nil)
        let table = SummaryTable.make(results)
        let fsyncColumn = try #require(table.headers.firstIndex(of: "fsyncs"))
        let row = try #require(table.rows.first { $0.first == "lmdb" })
        #expect(row[fsyncColumn] == "–")
    }

    @Test("a run whose crash checks lose acknowledged commits exits 1 and says what was lost")
    func lostCommitsFail() throws {
        let scratch = try ScratchDirectory("cli-lost")
        let (status, output) = try StorebenchProcess.run(["run", "--engines", "log", "--records", "2000", "--ops", "20000", "--kill-points", "3",
                                                          "--degrade", "early-ack", "--out", scratch.child("out"), "--no-progress"])
        #expect(status == 1, "\(output)")
        #expect(output.contains("log") && output.contains("lost") && output.contains("acknowledged commit"), "\(output)")
        #expect(FileManager.default.fileExists(atPath: scratch.child("out")), "results are still written")
    }

    @Test("four client threads, durability always: kills lose no acknowledged commit of any thread")
    func threadedCrashRecovery() throws {
        let scratch = try ScratchDirectory("cli-crash-threads")
        let results = try run(["ycsb-a", "--records", "2000", "--ops", "20000", "--threads", "4", "--durability", "always",
                               "--kill-points", "6", "--seed", "12"], in: scratch)
        for name in EngineRegistry.ours.filter(\.isPersistent).map(\.name) {
            let run = try #require(results.runs.first { $0.engine == name })
            #expect(run.threads == 4)
            #expect(run.recovery.lostCommits == 0 && run.recovery.partialBatches == 0, "\(name): \(run.recovery)")
            #expect(run.io.fsyncsPerCommit != nil, "\(name) counts its syncs")
        }
    }

    @Test("counters agree: user bytes with the trace exactly, file bytes with the kernel's count within 5%, op counts with the histograms")
    func countersAgree() throws {
        let scratch = try ScratchDirectory("cli-counters")
        let arguments = ["churn", "--records", "3000", "--ops", "60000", "--seed", "4", "--kill-points", "0"]
        let results = try run(arguments, in: scratch)
        // What the run phase asked to write, from the same spec and seed.
        var spec = try WorkloadSpec.load("churn")
        spec.set("recordcount", "3000")
        spec.set("operationcount", "60000")
        var (header, source) = try WorkloadGenerator.make(spec: spec, seed: 4)
        var operation = WorkloadOperation(.get)
        var position = 0
        var userBytes = 0
        while try source.next(into: &operation) {
            defer { position += 1 }
            guard position >= header.loadOperations else { continue }
            switch operation.kind {
            case .put, .readModifyWrite: userBytes += operation.key.count + operation.valueSize
            case .delete: userBytes += operation.key.count
            default: break
            }
        }
        for run in results.runs {
            #expect(run.io.userBytesWritten == userBytes, "\(run.engine): engine counted \(run.io.userBytesWritten), trace says \(userBytes)")
            #expect(run.byOp["all"]?.count == run.ops)
            #expect(run.byOp.filter { $0.key != "all" }.values.map(\.count).reduce(0, +) == run.ops)
            #expect(abs(run.opsPerS - Double(run.ops) / run.elapsedS) < 1e-6 * run.opsPerS)
            guard run.engine != "memory" else { continue }
            // The kernel counts a page when it is first dirtied, so an engine that only appends
            // (`log`, `lsm`) agrees closely; the rest is page rounding and small rewrites (hints,
            // identity files). `cow` rewrites chunks in place, and a page dirtied again before
            // writeback is not counted again: the kernel sees at most what the engine wrote.
            let os = try #require(run.io.osBytesWritten)
            let file = Double(run.io.fileBytesWritten)
            if run.engine == "cow" {
                #expect(Double(os) <= file * 1.05, "\(run.engine): engine \(run.io.fileBytesWritten) B, kernel \(os) B")
            } else {
                #expect(abs(Double(os) - file) / file < 0.05, "\(run.engine): engine \(run.io.fileBytesWritten) B, kernel \(os) B")
            }
            #expect(run.disk.spaceAmp.map { $0 > 0.5 } == true)
        }
    }
}

@Suite("storebench compare and baseline")
struct RegressionCLITests {
    func run(_ scratch: ScratchDirectory, _ name: String, _ extra: [String] = []) throws -> String {
        let path = scratch.child(name + ".json")
        let (status, output) = try StorebenchProcess.run(["run", "churn", "--records", "1500", "--ops", "15000", "--kill-points", "1", "--out", scratch.child("out"), "--format", "json"] + extra)
        #expect(status == 0, "\(output)")
        try Data(output.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("what compare treats as deterministic is identical across two runs with one seed; engines with background maintenance are flagged as not")
    func deterministicCounters() throws {
        let scratch = try ScratchDirectory("cli-deterministic")
        // Small buffers, so flushes, compactions and merges happen within the run.
        let arguments = ["run", "--records", "4000", "--ops", "40000", "--kill-points", "0", "--seed", "21",
                         "--set", "lsm.write_buffer_size=64KiB", "--set", "lsm.level1_size=256KiB", "--set", "log.segment_size=256KiB",
                         "--out", scratch.child("out"), "--format", "json", "--no-progress"]
        func counters() throws -> [String: [Double]] {
            let (status, output) = try StorebenchProcess.run(arguments)
            #expect(status == 0, "\(output)")
            let results = try Results.decode(Data(output.utf8))
            var byEngine: [String: [Double]] = [:]
            for run in results.runs {
                let engine = try EngineRegistry.engine(named: run.engine)
                #expect(run.deterministicCounters == !engine.hasBackgroundMaintenance, "\(run.engine)")
                guard run.deterministicCounters == true else { continue }
                byEngine[run.engine] = [Double(run.io.fileBytesWritten), Double(run.io.fsyncs ?? -1), Double(run.disk.finalBytes), Double(run.events.count)]
            }
            return byEngine
        }
        let first = try counters()
        let second = try counters()
        #expect(Set(first.keys) == Set(EngineRegistry.ours.filter { !$0.hasBackgroundMaintenance }.map(\.name)))
        for (engine, values) in first {
            #expect(second[engine] == values, "\(engine): file bytes, fsyncs, disk bytes, events \(values) then \(second[engine] ?? [])")
        }
    }

    @Test("A/A: the same build twice reports no regression (exit 0)")
    func aa() throws {
        let scratch = try ScratchDirectory("cli-aa")
        let (status, output) = try StorebenchProcess.run(["compare", try run(scratch, "a"), try run(scratch, "b")])
        #expect(status == 0, "\(output)")
        #expect(output.contains("no regression"))
    }

    @Test("a degraded engine is a regression on the deterministic metrics every time (exit 1)", arguments: [
        ("double-writes", "file_bytes_written"), ("extra-fsync", "fsyncs"),
    ])
    func degraded(degradation: String, metric: String) throws {
        let scratch = try ScratchDirectory("cli-degraded")
        let baseline = try run(scratch, "base")
        let worse = try run(scratch, "worse", ["--degrade", degradation])
        let (status, output) = try StorebenchProcess.run(["compare", baseline, worse, "--metrics", "deterministic", "durability", "--format", "markdown"])
        #expect(status == 1, "\(output)")
        // cow does its maintenance in the caller's thread, so its counters are compared strictly.
        let row = output.split(separator: "\n").first { $0.hasPrefix("| cow | \(metric) |") }
        #expect(row?.contains("**regression**") == true, "\(output)")
    }

    @Test("a 2× slower engine is a timing regression when both sides ran five times")
    func timing() throws {
        let scratch = try ScratchDirectory("cli-timing")
        let baseline = try run(scratch, "base", ["--engines", "log", "--repeat", "5", "--kill-points", "0"])
        let slower = try run(scratch, "slow", ["--engines", "log", "--repeat", "5", "--kill-points", "0", "--degrade", "slow-writes:20"])
        let (status, output) = try StorebenchProcess.run(["compare", baseline, slower, "--metrics", "timing", "--format", "json"])
        #expect(status == 1, "\(output)")
        let report = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let rows = report?["rows"] as? [[String: Any]] ?? []
        let throughput = try #require(rows.first { $0["metric"] as? String == "ops_per_s" })
        #expect(throughput["verdict"] as? String == "regression", "\(throughput)")
        #expect((throughput["change"] as? Double ?? 0) < -0.5, "at least 2× slower: \(throughput)")
    }

    @Test("runs at different thread counts are not compared unless told; the thread count is in the results")
    func differentThreads() throws {
        let scratch = try ScratchDirectory("cli-threads")
        let one = try run(scratch, "one", ["--engines", "memory", "--kill-points", "0"])
        let two = try run(scratch, "two", ["--engines", "memory", "--kill-points", "0", "--threads", "2"])
        let results = try Results.decode(Data(contentsOf: URL(fileURLWithPath: two)))
        #expect(results.runs.map(\.threads) == [2])
        let (refused, reason) = try StorebenchProcess.run(["compare", one, two])
        #expect(refused == 2 && reason.contains("thread"), "\(reason)")
        let (allowed, output) = try StorebenchProcess.run(["compare", one, two, "--allow-different-threads", "--metrics", "deterministic"])
        #expect(allowed != 2, "\(output)")
        let (same, comparison) = try StorebenchProcess.run(["compare", two, two, "--metrics", "deterministic"])
        #expect(same == 0 && comparison.contains("memory, 2 threads"), "\(comparison)")
    }

    @Test("unusable input exits 2 and says why; baseline save and check round-trip")
    func unusableAndBaselines() throws {
        let scratch = try ScratchDirectory("cli-baseline")
        let results = try run(scratch, "a")
        let (missing, message) = try StorebenchProcess.run(["compare", results, scratch.child("nope.json")])
        #expect(missing == 2 && message.contains("cannot read"), "\(message)")
        let other = scratch.child("other.json")
        let (status, output) = try StorebenchProcess.run(["run", "churn", "--records", "1500", "--ops", "15000", "--seed", "2", "--kill-points", "0", "--out", scratch.child("out"), "--format", "json"])
        #expect(status == 0)
        try Data(output.utf8).write(to: URL(fileURLWithPath: other))
        let (different, reason) = try StorebenchProcess.run(["compare", results, other])
        #expect(different == 2 && reason.contains("different workloads"), "\(reason)")
        let (saved, note) = try StorebenchProcess.run(["baseline", "save", "smoke", results, "--directory", scratch.child("baselines")])
        #expect(saved == 0, "\(note)")
        let (checked, comparison) = try StorebenchProcess.run(["baseline", "check", "smoke", "--directory", scratch.child("baselines"), "--metrics", "deterministic", "durability"])
        #expect(checked == 0, "\(comparison)")
        #expect(comparison.contains("file_bytes_written") && comparison.contains("no regression"), "\(comparison)")
    }
}

@Suite("storebench crash")
struct CrashCommandTests {
    @Test("50 kill -9 cycles per engine: nothing acknowledged lost, no partial batch, every open succeeds")
    func killCycles() throws {
        let (status, output) = try StorebenchProcess.run(["crash", "--engines", "all", "--iterations", "50", "--seed", "3", "--during-recovery", "0.3", "--format", "json"])
        #expect(status == 0, "\(output)")
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] ?? [:]
        let reports = json["kill_cycles"] as? [[String: Any]] ?? []
        #expect((json["fault_cycles"] as? [Any])?.isEmpty == true)
        #expect(reports.map { $0["engine"] as? String } == EngineRegistry.ours.filter(\.isPersistent).map(\.name))
        for report in reports {
            let name = report["engine"] as? String ?? "?"
            #expect(report["kills"] as? Int ?? 0 >= 45, "\(name): \(report)")
            #expect(report["recovered"] as? Int == 50, "\(name)")
            #expect(report["lost_commits"] as? Int == 0 && report["partial_batches"] as? Int == 0 && report["failed_opens"] as? Int == 0, "\(name): \(report)")
            if (try? EngineRegistry.engine(named: name))?.hasBackgroundMaintenance == true {
                #expect(report["kills_during_maintenance"] as? Int ?? 0 >= 1, "\(name): some kills land during maintenance")
            }
            #expect(report["kills_before_first_acknowledgement"] as? Int ?? 0 >= 1, "\(name): some kills land before the first acknowledgement")
            #expect(report["kills_during_recovery"] as? Int ?? 0 >= 1, "\(name): some kills land inside the open's recovery of the last crash")
            #expect(report["wrong_states"] as? Int == 0, "\(name): \(report)")
        }
    }

    @Test("kill cycles with four writer threads: every thread's acknowledged commits survive")
    func threadedKillCycles() throws {
        let (status, output) = try StorebenchProcess.run(["crash", "--engines", "all", "--iterations", "16", "--seed", "5", "--threads", "4", "--format", "json"])
        #expect(status == 0, "\(output)")
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] ?? [:]
        let reports = json["kill_cycles"] as? [[String: Any]] ?? []
        #expect(reports.count == EngineRegistry.ours.filter(\.isPersistent).count)
        for report in reports {
            let name = report["engine"] as? String ?? "?"
            #expect(report["recovered"] as? Int == 16, "\(name): \(report)")
            #expect(report["lost_commits"] as? Int == 0 && report["partial_batches"] as? Int == 0 && report["failed_opens"] as? Int == 0, "\(name): \(report)")
        }
    }

    @Test("--faults: power loss and I/O errors injected under each engine, nothing acknowledged lost")
    func faultCycles() throws {
        let (status, output) = try StorebenchProcess.run(["crash", "--engines", "all", "--iterations", "12", "--seed", "4", "--faults", "power-loss,eio,enospc", "--format", "json"])
        #expect(status == 0, "\(output)")
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] ?? [:]
        #expect((json["kill_cycles"] as? [Any])?.isEmpty == true)
        let reports = json["fault_cycles"] as? [[String: Any]] ?? []
        let engines = EngineRegistry.ours.filter(\.isPersistent).map(\.name)
        #expect(reports.count == engines.count * 3)
        for report in reports {
            let name = "\(report["engine"] ?? "?") \(report["fault"] ?? "?")"
            // A power loss checks 4 crash states (some may be refused with a corruption error).
            let powerLoss = report["fault"] as? String == "power-loss"
            #expect((report["recovered"] as? Int ?? 0) + (report["refused_opens"] as? Int ?? 0) == (powerLoss ? 48 : 12), "\(name): \(report)")
            #expect(report["lost_commits"] as? Int == 0 && report["partial_batches"] as? Int == 0 && report["failed_opens"] as? Int == 0, "\(name): \(report)")
            #expect(report["wrong_states"] as? Int == 0, "\(name): \(report)")
            #expect(report["injected"] as? Int ?? 0 >= (powerLoss ? 12 : 1), "\(name): \(report)")
            #expect(report["reported"] as? Int ?? 0 >= 1, "\(name): the store reports injected faults")
        }
        let (threaded, why) = try StorebenchProcess.run(["crash", "--engines", "log", "--threads", "2", "--durability", "interval"])
        #expect(threaded == 64 && why.contains("durability always only"), "\(why)")
        let (bad, message) = try StorebenchProcess.run(["crash", "--engines", "log", "--faults", "power-cut"])
        #expect(bad != 0 && message.contains("unknown fault `power-cut`"), "\(message)")
        if EngineRegistry.names.contains("lmdb") {
            let (refused, reason) = try StorebenchProcess.run(["crash", "--engines", "lmdb", "--faults", "power-loss", "--iterations", "2"])
            #expect(refused == 64 && reason.contains("lmdb") && reason.contains("file layer"), "\(reason)")
        }
    }
}
