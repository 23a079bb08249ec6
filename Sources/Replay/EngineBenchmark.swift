import Foundation
import Histogram
import ProcessMemory
import ResultsSchema
import StoreCore
import Workload

/// Everything about a run that is the same for every engine.
public struct RunPlan: Sendable {
    /// The materialized workload.
    public var tracePath: String
    /// Trace records of the load phase, and in all.
    public var loadRecords: Int
    public var totalRecords: Int
    public var options: StoreOptions
    public var pace: Pace
    public var sampleInterval: Double
    public var synthesizer: ValueSynthesizer
    public var seed: UInt64
    /// Crash kills per persistent engine (0: no crash phase).
    public var killPoints: Int
    /// The executable to start as the crash child, and its arguments but for the engine, the
    /// directory and where it starts.
    public var crashExecutable: String
    public var crashChild: CrashChildArguments
    /// Client threads of the run phase, and how operations are shared among them.
    public var layout: WorkerLayout
    /// The start of the run phase that counts in the time series only.
    public var warmUp: WarmUp?
    /// Before the run phase, write the loaded records this many times more (an aged store).
    public var ageRounds = 0
    /// Latency percentiles reported besides the standard ones (`--percentiles`), e.g. 99.99.
    public var percentiles: [Double] = []
    /// Where each run's HdrHistogram interval log is written (`nil`: not written).
    public var latencyLogDirectory: String?

    public init(tracePath: String, loadRecords: Int, totalRecords: Int, options: StoreOptions, pace: Pace,
                sampleInterval: Double, synthesizer: ValueSynthesizer, seed: UInt64, killPoints: Int,
                crashExecutable: String, crashChild: CrashChildArguments,
                layout: WorkerLayout = .threads(1)) {
        self.layout = layout
        self.tracePath = tracePath
        self.loadRecords = loadRecords
        self.totalRecords = totalRecords
        self.options = options
        self.pace = pace
        self.sampleInterval = sampleInterval
        self.synthesizer = synthesizer
        self.seed = seed
        self.killPoints = killPoints
        self.crashExecutable = crashExecutable
        self.crashChild = crashChild
    }
}

/// One engine, measured end to end.
public struct EngineBenchmark {
    public let engine: EngineDescriptor
    public let plan: RunPlan
    /// Parent directory for this engine's store directories (fresh ones are made inside).
    public let scratch: String
    public var progress: ((String) -> Void)?

    public init(engine: EngineDescriptor, plan: RunPlan, scratch: String) {
        self.engine = engine
        self.plan = plan
        self.scratch = scratch
    }

    /// Per-operation cost of the replay loop itself: replays up to 200,000 run-phase operations
    /// (per thread) against a store that does nothing, with every measurement on and the plan's
    /// threads. Wall-clock time per operation, so with N threads it is what the harness costs the
    /// throughput figure.
    public static func harnessOverhead(plan: RunPlan) throws -> Double {
        var reader = try TraceReader(path: plan.tracePath)
        var skip = WorkloadOperation(.get)
        for _ in 0..<plan.loadRecords where try !reader.next(into: &skip) { break }
        let count = min(200_000 * plan.layout.workers, plan.totalRecords - plan.loadRecords)
        guard count > 0 else { return 0 }
        let measurement = try replay(store: NullStore(), plan: plan, reader: &reader, from: plan.loadRecords, count: count) {
            $0.pace = .max
            $0.warmUp = nil
        }
        return measurement.operations > 0 ? measurement.elapsedSeconds * 1e9 / Double(measurement.operations) : 0
    }

    /// Replays `count` records from position `position` with the plan's threads and pace.
    static func replay(
        store: any Store, plan: RunPlan, reader: inout TraceReader, from position: Int, count: Int,
        configure: (inout MeasuredReplay) -> Void
    ) throws -> PhaseMeasurement {
        var measured = MeasuredReplay()
        measured.pace = plan.pace
        measured.sampleInterval = plan.sampleInterval
        measured.warmUp = plan.warmUp
        configure(&measured)
        if plan.layout == .threads(1) {
            var replayer = Replayer(store: store, synthesizer: plan.synthesizer, startingAt: position)
            return try measured.run(&replayer, from: &reader, count: count)
        }
        var parallel = ParallelReplay(layout: plan.layout)
        parallel.measured = measured
        return try parallel.run(store: store, synthesizer: plan.synthesizer, reader: &reader, startingAt: position, count: count)
    }

    public func run(repetition: Int, harnessOverhead: Double) throws -> Results.Run {
        let directory = scratch + "/\(engine.name)-\(repetition)"
        let fileSystem = plan.options.fileSystem
        try StorageDirectory.destroy(directory, fileSystem: fileSystem)
        defer { try? StorageDirectory.destroy(directory, fileSystem: fileSystem) }
        let storage = StorageDirectory(path: directory, fileSystem: fileSystem, metrics: StoreMetrics())

        // This engine's memory: what earlier engines freed goes back to the system, and the peak
        // starts again from here.
        let peakIsEngines = ProcessMemory.resetPeak()
        let allocatedBefore = ProcessMemory.allocator()?.allocated
        let store = try engine.open(directory, plan.options)
        let effectiveSettings = store.effectiveSettings
        var reader = try TraceReader(path: plan.tracePath)
        var replayer = Replayer(store: store, synthesizer: plan.synthesizer)

        // Load phase: timed, not measured per operation.
        progress?("\(engine.name): loading \(plan.loadRecords) records")
        let loadStart = MonotonicClock.now()
        var operation = WorkloadOperation(.get)
        var loadOps = 0
        while replayer.position < plan.loadRecords, try reader.next(into: &operation) {
            if case .completed = try replayer.execute(operation, start: 0, mark: 0) { loadOps += 1 }
        }
        let loadSeconds = MonotonicClock.seconds(since: loadStart)

        // Ageing: the loaded records written again, in shuffled order (see `StoreAgeing`).
        let ageing = plan.ageRounds > 0 ? try StoreAgeing(plan: plan).run(on: store, progress: progress, engineName: engine.name) : nil

        // Run phase. The load's maintenance finishes first, so none of it counts in the run.
        try store.waitForMaintenance()
        let metricsBefore = store.metrics.snapshot()
        let eventsBefore = store.metrics.events().count
        let osBefore = OSCounters.bytesWritten()
        let passedBefore = OSCounters.bytesPassedToWrite()
        let cacheBefore = try store.statistics()
        let residentBefore = PageCacheResidency.measure(directory: directory)
        let resourcesBefore = ResourceUsage.now(device: directory)
        let runStart = MonotonicClock.now()
        let runStartTime = Date().timeIntervalSince1970
        let name = engine.name
        let report = progress
        let measurement = try Self.replay(
            store: store, plan: plan, reader: &reader, from: replayer.position, count: plan.totalRecords - plan.loadRecords
        ) { replay in
            replay.diskUsage = { try storage.usage() }
            replay.progress = { operations, seconds, rate in
                report?("\(name): \(operations) ops, \(Int(seconds)) s, \(Int(rate)) ops/s")
            }
        }
        let resourcesAfter = ResourceUsage.now(device: directory)
        // The run's maintenance finishes too; sizes and memory are read with the store open.
        try store.waitForMaintenance()
        let allocator = ProcessMemory.allocator()
        let peakResident = peakIsEngines ? ProcessMemory.peakResidentSinceReset() : nil
        let usage = try storage.usage()
        let reported = try store.statistics()
        let residentAfter = PageCacheResidency.measure(directory: directory)
        var liveBytes = 0
        try store.scan(from: [], limit: Int.max) { key, value in liveBytes += key.count + value.count }
        // Counters are read after close, so every engine's figures include the work its close
        // does for the data the run wrote (a final memtable flush, hint files, the last sync).
        try store.close()
        let osAfter = OSCounters.bytesWritten()
        let passedAfter = OSCounters.bytesPassedToWrite()
        let metrics = store.metrics.snapshot()
        let allEvents = store.metrics.events()

        // Clean recovery: reopen what was just closed.
        var cleanOpen: Double?
        if engine.isPersistent {
            let start = MonotonicClock.now()
            let reopened = try engine.open(directory, plan.options)
            cleanOpen = MonotonicClock.seconds(since: start)
            try reopened.close()
        }

        let recovery = try crashRecovery(cleanOpenSeconds: cleanOpen, directory: directory)

        let runEvents = allEvents.dropFirst(eventsBefore).map { event in
            Results.Event(
                kind: event.kind, startS: (Double(event.startNanos) - Double(runStart)) / 1e9,
                durationMs: Double(event.durationNanos) / 1e6, bytesRead: event.bytesRead,
                bytesWritten: event.bytesWritten, blockedWriters: event.blockedWriters, detail: event.detail)
        }
        let blocking = runEvents.filter(\.blockedWriters).map(\.durationMs).sorted()
        let pausedMs = blocking.reduce(0, +)
        let userBytes = metrics.userBytesWritten - metricsBefore.userBytesWritten
        let osBytes = osBefore.flatMap { before in osAfter.map { $0 - before } }
        // A reference engine's library writes its files itself: only the kernel sees it, and its
        // count of bytes passed to write calls is the counterpart of our engines' counter.
        let passed = passedBefore.flatMap { before in passedAfter.map { $0 - before } }
        let fileBytes = engine.isReference ? (passed ?? 0) : metrics.fileBytesWritten - metricsBefore.fileBytesWritten
        let commits = [MeasuredKind.put, .delete, .rmw, .batch].reduce(0) { $0 + Int(measurement.histograms[$1.rawValue].totalCount) }
        let fsyncs = metrics.syncs - metricsBefore.syncs
        var byOp: [String: Results.OpStats] = [:]
        var all = makeHistogram()
        for kind in MeasuredKind.allCases where measurement.histograms[kind.rawValue].totalCount > 0 {
            byOp[kind.name] = Self.stats(measurement.histograms[kind.rawValue], seconds: measurement.elapsedSeconds, percentiles: plan.percentiles)
            all.add(measurement.histograms[kind.rawValue])
        }
        if all.totalCount > 0 { byOp["all"] = Self.stats(all, seconds: measurement.elapsedSeconds, percentiles: plan.percentiles) }
        let series = measurement.timeseries
        let amplification = Results.Disk.amplification(t: series.t, diskBytes: series.diskBytes, liveBytes: liveBytes)
        var run = Results.Run(
            engine: engine.name, repetition: repetition, ops: measurement.operations,
            elapsedS: measurement.elapsedSeconds,
            opsPerS: Double(measurement.operations) / max(measurement.elapsedSeconds, 1e-9),
            byOp: byOp,
            duringMaintenance: measurement.duringMaintenance.totalCount > 0 ? Self.stats(measurement.duringMaintenance, seconds: measurement.elapsedSeconds) : nil,
            load: Results.Phase(ops: loadOps, elapsedS: loadSeconds),
            disk: Results.Disk(
                finalBytes: usage.diskBytes, peakBytes: max(series.diskBytes.max() ?? 0, usage.diskBytes),
                finalAllocatedBytes: usage.allocatedBytes, liveBytes: liveBytes,
                spaceAmp: liveBytes > 0 ? Double(usage.diskBytes) / Double(liveBytes) : nil,
                spaceAmpMean: amplification?.mean, spaceAmpMax: amplification?.max),
            io: Results.IO(
                userBytesWritten: userBytes, fileBytesWritten: fileBytes, osBytesWritten: osBytes,
                writeAmp: userBytes > 0 ? Double(fileBytes) / Double(userBytes) : nil,
                fsyncs: engine.isReference ? nil : fsyncs, commits: commits,
                fsyncsPerCommit: commits > 0 && !engine.isReference ? Double(fsyncs) / Double(commits) : nil),
            // A reference engine's library compacts and stalls on its own threads without telling:
            // its pauses are unknown, not zero.
            pauses: engine.isReference ? nil : Results.Pauses(
                count: blocking.count, totalMs: pausedMs, maxMs: blocking.last ?? 0,
                p99Ms: SampleStatistics.percentile(sorted: blocking, 0.99),
                stalledFraction: measurement.elapsedSeconds > 0 ? pausedMs / 1000 / measurement.elapsedSeconds : 0),
            events: runEvents, recovery: recovery,
            memory: Results.Memory(
                peakRssBytes: peakResident ?? ProcessMemory.peakResidentBytes(), peakRssScope: peakResident != nil ? "engine" : "process",
                allocatedBytes: allocatedBefore.flatMap { before in allocator.map { $0.allocated - before } },
                processAllocatedBytes: allocator?.allocated, residentBytes: allocator?.resident),
            harness: Results.Harness(perOpOverheadNs: harnessOverhead),
            timeseries: Results.Timeseries(
                intervalS: plan.sampleInterval, t: series.t, opsPerS: series.opsPerSecond, p99Us: series.p99Microseconds,
                diskBytes: series.diskBytes, allocatedDiskBytes: series.allocatedDiskBytes))
        run.timeseries.p50Us = series.p50Microseconds
        run.timeseries.p999Us = series.p999Microseconds
        run.timeseries.maxUs = series.maxMicroseconds
        if let logDirectory = plan.latencyLogDirectory {
            run.latencyLog = try writeLatencyLog(series.latencyLog, into: logDirectory, repetition: repetition, startTime: runStartTime)
        }
        run.engineStatistics = Results.EngineStatistics(keyCount: reported.keyCount, liveBytes: reported.liveBytes, deadBytes: reported.deadBytes)
        run.threads = plan.layout.workers
        run.age = ageing
        run.warmUpS = plan.warmUp == nil ? nil : measurement.warmUpSeconds
        run.steadyState = Results.SteadyState.judge(series.opsPerSecond, warmUpIntervals: Int((measurement.warmUpSeconds / plan.sampleInterval).rounded(.up)))
        run.resources = resourcesBefore.resources(until: resourcesAfter, operations: measurement.operations)
        if let hits = reported.cacheHits, let misses = reported.cacheMisses {
            run.cache = Results.CacheUse(hits: hits - (cacheBefore.cacheHits ?? 0), misses: misses - (cacheBefore.cacheMisses ?? 0))
        }
        if let residentBefore, let residentAfter {
            run.pageCache = Results.PageCacheUse(storeBytesStart: residentBefore.total, residentBytesStart: residentBefore.resident,
                                                 storeBytesEnd: residentAfter.total, residentBytesEnd: residentAfter.resident)
        }
        run.settings = effectiveSettings.isEmpty ? nil : effectiveSettings
        run.deterministicCounters = !engine.isReference && !engine.hasBackgroundMaintenance && plan.layout.workers == 1
        if case let .roles(readers, writers) = plan.layout {
            run.readers = readers
            run.writers = writers
        }
        return run
    }

    /// Kills a child replaying the workload at seeded points and checks each recovery.
    func crashRecovery(cleanOpenSeconds: Double?, directory: String) throws -> Results.Recovery {
        guard engine.isPersistent else {
            return Results.Recovery(cleanOpenMs: nil, crashOpenMs: nil, crashVerified: nil, lostCommits: nil, partialBatches: nil,
                                    killPoints: 0, note: "\(engine.name) keeps nothing across a reopen")
        }
        guard plan.killPoints > 0 else {
            return Results.Recovery(cleanOpenMs: cleanOpenSeconds.map { $0 * 1000 }, crashOpenMs: nil, crashVerified: nil,
                                    lostCommits: nil, partialBatches: nil, killPoints: 0, note: nil)
        }
        var random = SeededRandom(seed: plan.seed ^ 0xC4A5_4000)
        var opens: [Double] = []
        var lost = 0
        var partial = 0
        var kills = 0
        for point in 0..<plan.killPoints {
            let crashDirectory = directory + "-crash"
            try StorageDirectory.destroy(crashDirectory, fileSystem: plan.options.fileSystem)
            defer { try? StorageDirectory.destroy(crashDirectory, fileSystem: plan.options.fileSystem) }
            let killAt = plan.loadRecords / 2 + random.below(max(1, plan.totalRecords - plan.loadRecords / 2))
            progress?("\(engine.name): crash \(point + 1)/\(plan.killPoints), kill after trace position \(killAt)")
            let check = CrashCheck(
                executable: plan.crashExecutable,
                childArguments: plan.crashChild.child(engine: engine.name, directory: crashDirectory, from: ReplayFrontier(layout: plan.layout)).arguments,
                tracePath: plan.tracePath, synthesizer: plan.synthesizer)
            let outcome = try check.run(killAt: killAt, layout: plan.layout) { try engine.open(crashDirectory, plan.options) }
            opens.append(outcome.openSeconds)
            lost += outcome.lostCommits
            partial += outcome.partialBatch ? 1 : 0
            kills += outcome.killed ? 1 : 0
        }
        opens.sort()
        return Results.Recovery(
            cleanOpenMs: cleanOpenSeconds.map { $0 * 1000 }, crashOpenMs: opens[opens.count / 2] * 1000,
            crashVerified: lost == 0 && partial == 0, lostCommits: lost, partialBatches: partial,
            killPoints: plan.killPoints, kills: kills, note: nil)
    }

    static func stats(_ histogram: Histogram<UInt64>, seconds: Double, percentiles: [Double] = []) -> Results.OpStats {
        func microseconds(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1000 }
        var latency = Results.Latency(p50: microseconds(50), p90: microseconds(90), p99: microseconds(99),
                                      p999: microseconds(99.9), max: Double(histogram.max) / 1000)
        if !percentiles.isEmpty {
            latency.percentiles = Dictionary(percentiles.map { (PercentileList.label($0), microseconds($0)) }) { first, _ in first }
        }
        return Results.OpStats(count: Int(histogram.totalCount), opsPerS: Double(histogram.totalCount) / max(seconds, 1e-9), latencyUs: latency)
    }

    /// Writes the run phase's interval log as `<engine>-t<threads>-r<repetition>.hlog` in
    /// `directory`. - Returns: the file's name.
    func writeLatencyLog(_ lines: [String], into directory: String, repetition: Int, startTime: Double) throws -> String {
        let safe = String(engine.name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "=" ? $0 : "_" })
        let name = "\(safe)-t\(RunSession.label(plan.layout))-r\(repetition).hlog"
        let text = HdrHistogramLog.header(startTime: startTime, comment: "storebench \(engine.name), \(RunSession.label(plan.layout)) thread(s), repetition \(repetition); values in ns")
            + lines.joined()
        let storage = StorageDirectory(path: directory, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
        try storage.writeAtomically(name, contents: Array(text.utf8))
        return name
    }
}
