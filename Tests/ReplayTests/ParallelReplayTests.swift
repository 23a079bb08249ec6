import MemoryStore
import StoreCore
import StoreTestSupport
import Testing
@testable import Replay
import ResultsSchema
import Workload

/// A run plan for `workload` materialized in `scratch` with `overrides`, no crash phase, durability
/// `none` and engine `settings`.
func testPlan(_ workload: String, seed: UInt64, overrides: [String: String], settings: [String: String] = [:],
              sampleInterval: Double = 0.5, in scratch: ScratchDirectory) throws -> RunPlan {
    let materialized = try WorkloadMaterializer.materialize(workload, seed: seed, overrides: overrides, scratch: scratch.path)
    #expect(materialized.name == workload)
    let total = try #require(try TraceReader.recordCount(path: materialized.path))
    return RunPlan(
        tracePath: materialized.path, loadRecords: materialized.header.loadOperations, totalRecords: total,
        options: StoreOptions(durability: .none, settings: settings), pace: .max, sampleInterval: sampleInterval,
        synthesizer: ValueSynthesizer(seed: seed), seed: seed, killPoints: 0, crashExecutable: "",
        crashChild: CrashChildArguments(tracePath: materialized.path, durability: .none, seed: seed, compressibility: 0.5, settings: []))
}

/// Replays the trace at `path` on a fresh `memory` store with `measured`'s settings: on this
/// thread for one thread, through `ParallelReplay` for more.
func replayOnMemory(_ path: String, threads: Int, _ measured: MeasuredReplay) throws -> PhaseMeasurement {
    var reader = try TraceReader(path: path)
    if threads == 1 {
        var replayer = Replayer(store: MemoryStore(), synthesizer: ValueSynthesizer(seed: 5))
        return try measured.run(&replayer, from: &reader, count: .max)
    }
    var parallel = ParallelReplay(layout: .threads(threads))
    parallel.measured = measured
    return try parallel.run(store: MemoryStore(), synthesizer: ValueSynthesizer(seed: 5), reader: &reader, startingAt: 0, count: .max)
}

@Suite("Parallel replay")
struct ParallelReplayTests {
    /// Many writes over few keys, with batches that span several keys (and so several workers)
    /// between single writes to the same keys: only a replay that keeps each key's order ends
    /// with the last write of every key.
    static func contendedTrace(seed: UInt64, records: Int = 6_000) -> [WorkloadOperation] {
        var random = SeededRandom(seed: seed)
        var operations: [WorkloadOperation] = []
        func key() -> [UInt8] { Array("key\(random.below(40))".utf8) }
        while operations.count < records {
            switch random.below(10) {
            case 0:
                operations.append(WorkloadOperation(.begin))
                for _ in 0..<(2 + random.below(5)) {
                    operations.append(random.below(4) == 0 ? WorkloadOperation(.delete, key: key()) : WorkloadOperation(.put, key: key(), valueSize: 20))
                }
                operations.append(WorkloadOperation(.commit))
            case 1: operations.append(WorkloadOperation(.delete, key: key()))
            case 2: operations.append(WorkloadOperation(.get, key: key()))
            case 3: operations.append(WorkloadOperation(.readModifyWrite, key: key(), valueSize: 24))
            default: operations.append(WorkloadOperation(.put, key: key(), valueSize: 16 + random.below(16)))
            }
        }
        return operations
    }

    func contents(_ store: any Store) throws -> [[UInt8]: [UInt8]] {
        var result: [[UInt8]: [UInt8]] = [:]
        for (key, value) in try store.scan(from: [], limit: .max) { result[key] = value }
        return result
    }

    @Test("each key keeps its recorded order, batches across workers included", arguments: [2, 3, 8])
    func perKeyOrder(threads: Int) throws {
        let scratch = try ScratchDirectory("parallel-order")
        let operations = Self.contendedTrace(seed: UInt64(threads))
        let path = try trace(operations, in: scratch)
        let synthesizer = ValueSynthesizer(seed: 5)

        let sequential = MemoryStore()
        var replayer = Replayer(store: sequential, synthesizer: synthesizer)
        var reader = try TraceReader(path: path)
        let one = try MeasuredReplay().run(&replayer, from: &reader, count: .max)

        for round in 0..<3 {
            let parallel = MemoryStore()
            var parallelReader = try TraceReader(path: path)
            let many = try ParallelReplay(layout: .threads(threads)).run(
                store: parallel, synthesizer: synthesizer, reader: &parallelReader, startingAt: 0, count: .max)
            #expect(many.threads == threads)
            #expect(many.operations == one.operations, "round \(round): every operation completes once")
            let counted = many.histograms.reduce(0) { $0 + Int($1.totalCount) }
            #expect(counted == one.operations, "the merged histograms hold every operation")
            #expect(try contents(parallel) == (try contents(sequential)), "round \(round): final state differs from a sequential replay")
        }
    }

    @Test("readers and writers: writes keep their per-key order")
    func roles() throws {
        let scratch = try ScratchDirectory("parallel-roles")
        let path = try trace(Self.contendedTrace(seed: 11), in: scratch)
        let synthesizer = ValueSynthesizer(seed: 5)
        let sequential = MemoryStore()
        var replayer = Replayer(store: sequential, synthesizer: synthesizer)
        var reader = try TraceReader(path: path)
        _ = try MeasuredReplay().run(&replayer, from: &reader, count: .max)
        let parallel = MemoryStore()
        var parallelReader = try TraceReader(path: path)
        let measurement = try ParallelReplay(layout: .roles(readers: 2, writers: 3)).run(
            store: parallel, synthesizer: synthesizer, reader: &parallelReader, startingAt: 0, count: .max)
        #expect(measurement.threads == 5)
        #expect(try contents(parallel) == (try contents(sequential)))
    }

    @Test("a worker's failure stops the replay with its error instead of hanging it")
    func failureStops() throws {
        let scratch = try ScratchDirectory("parallel-failure")
        let path = try trace((0..<20_000).map { WorkloadOperation(.put, key: Array("k\($0 % 500)".utf8), valueSize: 10) }, in: scratch)
        let store = ScriptedStore()
        store.failCall = 5_000
        var reader = try TraceReader(path: path)
        #expect(throws: StoreError.self) {
            try ParallelReplay(layout: .threads(4)).run(store: store, synthesizer: ValueSynthesizer(seed: 5), reader: &reader, startingAt: 0, count: .max)
        }
    }

    @Test("a paced replay counts operations: a batch is one operation, not one per record", arguments: [1, 3])
    func pacingCountsOperations(threads: Int) throws {
        let scratch = try ScratchDirectory("pace-operations")
        var operations: [WorkloadOperation] = []
        for batch in 0..<30 {
            operations.append(WorkloadOperation(.begin))
            for index in 0..<30 { operations.append(WorkloadOperation(.put, key: Array("b\(batch)-\(index)".utf8), valueSize: 10)) }
            operations.append(WorkloadOperation(.commit))
        }
        let path = try trace(operations, in: scratch)
        var measured = MeasuredReplay()
        measured.pace = .rate(300)
        let measurement = try replayOnMemory(path, threads: threads, measured)
        #expect(measurement.operations == 30)
        // 30 operations at 300/s: the last is due at 0.097 s. Pacing the 960 records would take 3.2 s.
        #expect(measurement.elapsedSeconds >= 0.09 && measurement.elapsedSeconds < 1.6, "\(measurement.elapsedSeconds) s")
    }

    @Test("recorded timestamps that go backwards replay at once, and are counted, never trap")
    func backwardTimestamps() throws {
        let scratch = try ScratchDirectory("pace-backwards")
        let stamps: [UInt64] = [5_000, 1_000, 0, 9_000, UInt64.max / 2, 7_000]
        let path = try trace(stamps.enumerated().map { WorkloadOperation(.put, key: Array("k\($0.offset)".utf8), valueSize: 8, timestamp: $0.element) }, in: scratch)
        var reader = try TraceReader(path: path)
        var pacer = Pacer(.recorded(speedup: 1))
        var operation = WorkloadOperation(.get)
        var dues: [UInt64?] = []
        while try reader.next(into: &operation) { dues.append(pacer.due(of: operation)) }
        #expect(dues == [0, 0, 0, 4_000_000, UInt64(1e18), 2_000_000])
        #expect(pacer.earlierThanStart == 2)
    }

    @Test("a slow engine's time series is sampled by time, not every thousand operations")
    func slowEngineSampled() throws {
        let scratch = try ScratchDirectory("slow-series")
        let path = try trace((0..<40).map { WorkloadOperation(.put, key: Array("k\($0)".utf8), valueSize: 8) }, in: scratch)
        let store = ScriptedStore()
        store.delayEveryCall = 10_000  // 10 ms per call: 0.4 s in all
        var replayer = Replayer(store: store, synthesizer: ValueSynthesizer(seed: 5))
        var reader = try TraceReader(path: path)
        var measured = MeasuredReplay()
        measured.sampleInterval = 0.05
        let measurement = try measured.run(&replayer, from: &reader, count: .max)
        #expect(measurement.timeseries.t.count >= 6, "\(measurement.timeseries.t)")
    }

    @Test("a scan reads every key and value byte it visits")
    func scansReadBytes() throws {
        let store = MemoryStore()
        for index in 0..<5 { try store.put(Array("k\(index)".utf8), Array(repeating: UInt8(index), count: 10)) }
        var replayer = Replayer(store: store, synthesizer: ValueSynthesizer(seed: 5))
        _ = try replayer.execute(WorkloadOperation(.scan, key: Array("k1".utf8), scanCount: 3), start: 0, mark: 0)
        var expected: UInt64 = 0
        for (key, value) in try store.scan(from: Array("k1".utf8), limit: 3) {
            expected = key.withUnsafeBytes { key in
                value.withUnsafeBytes { value in ScanDigest.fold(value, into: ScanDigest.fold(key, into: expected)) }
            }
        }
        #expect(replayer.scanChecksum == expected && expected != 0)
    }

    @Test("the time series adds up to the operations, over every worker")
    func timeseries() throws {
        let scratch = try ScratchDirectory("parallel-series")
        let path = try trace((0..<40_000).map { WorkloadOperation(.put, key: Array("k\($0 % 997)".utf8), valueSize: 10) }, in: scratch)
        var reader = try TraceReader(path: path)
        var parallel = ParallelReplay(layout: .threads(3))
        parallel.measured.sampleInterval = 0.01
        let measurement = try parallel.run(store: MemoryStore(), synthesizer: ValueSynthesizer(seed: 5), reader: &reader, startingAt: 0, count: .max)
        let series = measurement.timeseries
        #expect(!series.t.isEmpty && series.t == series.t.sorted())
        var previous = 0.0
        var total = 0.0
        for (t, rate) in zip(series.t, series.opsPerSecond) {
            total += rate * (t - previous)
            previous = t
        }
        #expect(abs(total - 40_000) < 40, "the intervals hold \(total) operations")
    }
}

@Suite("Crash verification with several workers")
struct MultiWorkerVerdictTests {
    @Test("each worker's acknowledged commits must be there, each worker's next commit whole or absent")
    func verdicts() throws {
        let scratch = try ScratchDirectory("verdict-workers")
        let layout = WorkerLayout.threads(2)
        // Keys that fall on worker 0 and on worker 1.
        let keys = (0..<200).map { Array("key\($0)".utf8) }
        let zero = keys.filter { layout.worker(for: .put, key: $0) == 0 }
        let one = keys.filter { layout.worker(for: .put, key: $0) == 1 }
        let operations = [
            WorkloadOperation(.put, key: zero[0], valueSize: 30),  // 0 · worker 0
            WorkloadOperation(.put, key: one[0], valueSize: 30),   // 1 · worker 1
            WorkloadOperation(.put, key: zero[1], valueSize: 30),  // 2 · worker 0
            WorkloadOperation(.put, key: one[1], valueSize: 30),   // 3 · worker 1
            WorkloadOperation(.put, key: zero[2], valueSize: 30),  // 4 · worker 0
        ]
        let path = try trace(operations, in: scratch)
        let synthesizer = ValueSynthesizer(seed: 5)
        func value(_ key: [UInt8], _ version: Int) -> [UInt8] {
            var buffer: [UInt8] = []
            synthesizer.fill(&buffer, size: 30, key: key, version: UInt64(version))
            return buffer
        }
        let check = CrashCheck(executable: "", childArguments: [], tracePath: path, synthesizer: synthesizer)
        // Worker 0 acknowledged positions 0 and 2 (frontier 3); worker 1 only position 1 (frontier 2).
        var frontier = ReplayFrontier(layout: layout)
        frontier.positions = [3, 2]
        func verdict(_ entries: [([UInt8], [UInt8])]) throws -> CrashCheck.Verdict {
            let store = MemoryStore()
            for (key, value) in entries { try store.put(key, value) }
            return try check.verify(store, acknowledged: frontier)
        }
        let acknowledged = [(zero[0], value(zero[0], 0)), (one[0], value(one[0], 1)), (zero[1], value(zero[1], 2))]
        let clean = try verdict(acknowledged)
        #expect(clean.lostCommits == 0 && !clean.partialBatch)
        #expect(clean.frontier.positions == [3, 2])
        // Worker 1's next commit (position 3) and worker 0's (position 4) both turned out durable.
        let both = try verdict(acknowledged + [(one[1], value(one[1], 3)), (zero[2], value(zero[2], 4))])
        #expect(both.lostCommits == 0 && both.inFlightApplied == 2)
        #expect(both.frontier.positions == [5, 4])
        #expect(try verdict(Array(acknowledged.dropFirst())).lostCommits == 1, "worker 0's first commit is gone")
        #expect(try verdict(acknowledged.filter { $0.0 != one[0] }).lostCommits == 1, "worker 1's acknowledged commit is gone")
    }

    @Test("acknowledgements carry the worker beside the position and the maintenance flag")
    func acknowledgementCoding() {
        for acknowledgement in [Acknowledgement(worker: 0, position: 12, duringMaintenance: false),
                                Acknowledgement(worker: 255, position: (1 << 40) + 3, duringMaintenance: true)] {
            #expect(Acknowledgement(decoding: acknowledgement.encoded) == acknowledgement)
        }
    }
}

@Suite("dbbench phases on several threads")
struct ThreadedDBBenchTests {
    @Test("fills share the keys out, every read is checked, and the store ends the same size whatever the threads", arguments: [1, 3])
    func phases(threads: Int) throws {
        var benchmark = try DBBench(DBBench.Configuration(num: 3_000, batchSize: 1, seed: 9, threads: threads))
        let store = MemoryStore()
        let outcome = try benchmark.run([.fillseq, .readseq, .overwrite, .readrandom, .seekrandom, .deleterandom, .readrandom],
                                        persistent: false, dropCachedPages: {}) { _ in store }
        let byPhase = Dictionary(outcome.results.map { ($0.phase, $0) }, uniquingKeysWith: { $1 })
        #expect(outcome.results.allSatisfy { $0.threads == threads })
        #expect(byPhase["fillseq"]?.operations == 3_000 && byPhase["fillseq"]?.commits == 3_000)
        #expect(byPhase["readseq"]?.found == 3_000 * threads, "every thread scans every key")
        #expect(byPhase["overwrite"]?.operations == 3_000)
        let reads = outcome.results.filter { $0.phase == "readrandom" }
        #expect(reads.count == 2 && reads[0].found == 3_000, "after fillseq every key is there")
        #expect(reads.allSatisfy { $0.operations == 3_000 })
        #expect((reads[1].found ?? 0) < 3_000, "deleterandom removed some")
        #expect(byPhase["overwrite"]?.syncsPerCommit == 0, "memory never syncs")
    }

    @Test("readwhilewriting: reads checked against a writer running beside them")
    func readWhileWriting() throws {
        var benchmark = try DBBench(DBBench.Configuration(num: 2_000, seed: 3, threads: 2))
        let store = MemoryStore()
        let outcome = try benchmark.run([.fillrandom, .readwhilewriting, .readrandom], persistent: false, dropCachedPages: {}) { _ in store }
        let phase = try #require(outcome.results.first { $0.phase == "readwhilewriting" })
        #expect(phase.operations == 2_000 && phase.threads == 2)
        #expect(phase.note?.contains("overwrites") == true)
        // The model the writer left behind still checks every later read.
        #expect(outcome.results.last?.operations == 2_000)
    }
}

@Suite("A run session")
struct RunSessionTests {
    @Test("every layout, repetition and engine runs once, on its own fresh store, with its thread count recorded")
    func layoutsAndRepetitions() throws {
        let scratch = try ScratchDirectory("run-session")
        let plan = try testPlan("ycsb-a", seed: 4, overrides: ["recordcount": "500", "operationcount": "4000"], sampleInterval: 0.05, in: scratch)
        #expect(plan.loadRecords == 500)
        let session = RunSession(engines: [MemoryStore.descriptor], plan: plan, layouts: [.threads(1), .threads(3)], repetitions: 2, scratch: scratch.path)
        let (runs, overheads) = try session.run()
        #expect(runs.map(\.threadCount) == [1, 1, 3, 3] && runs.map(\.repetition) == [1, 2, 1, 2])
        #expect(runs.allSatisfy { $0.ops == 4000 && $0.engine == "memory" })
        #expect(overheads.map(\.layout) == [.threads(1), .threads(3)] && overheads.allSatisfy { $0.nanoseconds > 0 })
    }

    @Test("a run job assembles results: workload counts from the trace, options and tool as given, the device limit under always")
    func runJob() throws {
        let scratch = try ScratchDirectory("run-job")
        let materialized = try WorkloadMaterializer.materialize(
            "ycsb-b", seed: 6, overrides: ["recordcount": "300", "operationcount": "2500"], scratch: scratch.path)
        var plan = try testPlan("ycsb-b", seed: 6, overrides: ["recordcount": "300", "operationcount": "2500"], in: scratch)
        plan.options.durability = .always
        plan.percentiles = [99.99]
        var job = RunJob(workload: materialized, requested: "ycsb-b", plan: plan, engines: [MemoryStore.descriptor, MemoryStore.descriptor],
                         layouts: [.threads(2)], repetitions: 2, compressibility: 0.25,
                         tool: .init(version: "9.9.9", commit: "abcdef0"), scratch: scratch.path)
        job.valueSize = 40
        job.invocation = ["ycsb-b", "--records", "300"]
        let output = try job.run()
        let results = output.results
        #expect(results.tool == .init(version: "9.9.9", commit: "abcdef0"))
        #expect(results.workload.name == "ycsb-b" && results.workload.seed == 6)
        #expect(results.workload.records == 300 && results.workload.operations == 2500)
        #expect(results.options.durability == "always" && results.options.repeat == 2 && results.options.valueSize == 40)
        #expect(results.options.valueCompressibility == 0.25 && results.options.percentiles == [99.99])
        #expect(results.runs.count == 4 && output.measuredOps == 2500 && results.invocation == ["ycsb-b", "--records", "300"])
        #expect((results.machine.fsyncOverwritePerS ?? 0) > 0 && (results.machine.fsyncAppendPerS ?? 0) > 0)
        #expect(results.date != nil && results.machine.cpus > 0)
        #expect(output.harnessOverhead.map(\.layout) == [.threads(2)])
    }
}

@Suite("Warm-up and steady state")
struct WarmUpTests {
    @Test("operations in the warm-up count in the time series, not in the figures", arguments: [1, 3])
    func warmUpExcluded(threads: Int) throws {
        let scratch = try ScratchDirectory("warm-up")
        let path = try trace((0..<6_000).map { WorkloadOperation(.put, key: Array("k\($0 % 300)".utf8), valueSize: 8) }, in: scratch)
        var measured = MeasuredReplay()
        measured.warmUp = .operations(2_000)
        let measurement = try replayOnMemory(path, threads: threads, measured)
        #expect(measurement.operations == 4_000, "\(measurement.operations)")
        #expect(measurement.histograms[MeasuredKind.put.rawValue].totalCount == 4_000)
        #expect(measurement.warmUpSeconds > 0)
        var previous = 0.0
        var total = 0.0
        for (t, rate) in zip(measurement.timeseries.t, measurement.timeseries.opsPerSecond) {
            total += rate * (t - previous)
            previous = t
        }
        #expect(abs(total - 6_000) < 10, "the time series holds the warm-up too: \(total)")
    }

    @Test("steady state: flat throughput is steady, a climb is not, a short run says nothing")
    func steadyState() {
        #expect(Results.SteadyState.judge([100, 100, 101, 99, 100, 100, 100, 50], warmUpIntervals: 0)?.steady == true)
        let climbing = Results.SteadyState.judge([10, 20, 30, 40, 50, 60, 70, 80], warmUpIntervals: 0)
        #expect(climbing?.steady == false && (climbing?.drift ?? 0) > 0.5)
        #expect(Results.SteadyState.judge([1, 2, 3], warmUpIntervals: 0) == nil)
        #expect(Results.SteadyState.judge([1000, 1, 100, 100, 100, 100, 100, 100, 7], warmUpIntervals: 2)?.steady == true)
    }
}
