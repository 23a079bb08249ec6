import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing
@testable import Replay
import Workload

/// A trace of `operations`, written into `scratch`.
func trace(_ operations: [WorkloadOperation], in scratch: ScratchDirectory, loadOperations: Int = 0) throws -> String {
    let path = scratch.child("t.trace")
    let writer = try TraceWriter(path: path, header: TraceHeader([("source", "test"), ("seed", "5"), ("load_operations", String(loadOperations))]))
    for operation in operations { try writer.append(operation) }
    try writer.finish()
    return path
}

@Suite("Crash verification")
struct CrashVerdictTests {
    static let operations: [WorkloadOperation] = [
        WorkloadOperation(.put, key: bytes("a"), valueSize: 30),   // 0
        WorkloadOperation(.put, key: bytes("b"), valueSize: 30),   // 1
        WorkloadOperation(.get, key: bytes("a")),                  // 2
        WorkloadOperation(.begin),                                 // 3
        WorkloadOperation(.put, key: bytes("c"), valueSize: 30),   // 4
        WorkloadOperation(.delete, key: bytes("a")),               // 5
        WorkloadOperation(.commit),                                // 6
        WorkloadOperation(.put, key: bytes("d"), valueSize: 30),   // 7
    ]

    func value(_ key: String, _ version: Int) -> [UInt8] {
        var buffer: [UInt8] = []
        ValueSynthesizer(seed: 5).fill(&buffer, size: 30, key: bytes(key), version: UInt64(version))
        return buffer
    }

    @Test("acknowledged writes must all be there; the batch in flight whole or not at all")
    func verdicts() throws {
        let scratch = try ScratchDirectory("verdict")
        let path = try trace(Self.operations, in: scratch)
        let check = CrashCheck(executable: "", childArguments: [], tracePath: path, synthesizer: ValueSynthesizer(seed: 5))
        func verdict(_ entries: [(String, [UInt8])]) throws -> CrashCheck.Verdict {
            let store = MemoryStore()
            for (key, value) in entries { try store.put(bytes(key), value) }
            // a and b acknowledged; the batch in flight
            return try check.verify(store, acknowledged: ReplayFrontier(start: 3))
        }
        let acknowledged = [("a", value("a", 0)), ("b", value("b", 1))]
        let clean = try verdict(acknowledged)
        #expect(clean.lostCommits == 0 && !clean.partialBatch && clean.inFlightNotApplied == 1 && clean.inFlightApplied == 0)
        #expect(clean.frontier.positions == [3], "not applied: continue before the batch")
        let applied = try verdict([("b", value("b", 1)), ("c", value("c", 4))])
        #expect(applied.lostCommits == 0 && !applied.partialBatch && applied.inFlightApplied == 1)
        #expect(applied.frontier.positions == [7], "applied: continue after its commit at position 6")
        #expect(try verdict([("a", value("a", 0))]).lostCommits == 1, "b was acknowledged and is gone")
        let wrongBytes = try verdict([("a", value("a", 0)), ("b", value("a", 1))])
        #expect(wrongBytes.wrongState && !wrongBytes.passed, "b holds the wrong bytes: the store equals no prefix of the commits")
        #expect(try verdict(acknowledged + [("c", value("c", 4))]).partialBatch, "c written but a not deleted")
        let invented = try verdict(acknowledged + [("d", value("d", 7))])
        #expect(invented.wrongState && !invented.passed, "d was never acknowledged, and is not the commit in flight")
    }
}

/// A store that runs `delay` inside the call number `slowCall`, fails call number `failCall`, and
/// marks maintenance around calls `maintenance`. Calls are counted under a lock, so several
/// threads may use it.
final class ScriptedStore: Store, @unchecked Sendable {
    let inner = MemoryStore()
    private let lock = Lock()
    var calls = 0
    var slowCall = -1
    var failCall = -1
    /// Microseconds every call sleeps.
    var delayEveryCall: useconds_t = 0
    var delay: useconds_t = 0
    var maintenance: Range<Int> = 0..<0
    var maintenanceStart: UInt64 = 0
    var engineName: String { "scripted" }
    var metrics: StoreMetrics { inner.metrics }

    private func step() throws {
        let call = lock.withLock { () -> Int in
            if calls == maintenance.lowerBound { maintenanceStart = metrics.startMaintenance() }
            calls += 1
            return calls - 1
        }
        if call == slowCall { usleep(delay) }
        if delayEveryCall > 0 { usleep(delayEveryCall) }
        if call == failCall { throw StoreError.io(call: "pwrite", errno: 5, path: "scripted") }
        lock.withLock {
            if call + 1 == maintenance.upperBound { metrics.finishMaintenance("test", startedAt: maintenanceStart, bytesRead: 0, bytesWritten: 0, blockedWriters: true) }
        }
    }

    func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool { try step(); return try inner.get(key, into: &value) }
    func put(_ key: [UInt8], _ value: [UInt8]) throws { try step(); try inner.put(key, value) }
    func delete(_ key: [UInt8]) throws { try step(); try inner.delete(key) }
    func apply(_ batch: WriteBatch) throws { try step(); try inner.apply(batch) }
    func scan(from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try step()
        return try inner.scan(from: start, limit: limit, body)
    }
    func sync() throws {}
    func compact() throws {}
    func close() throws {}
    func statistics() throws -> StoreStatistics { try inner.statistics() }
}

@Suite("Measured replay")
struct MeasuredReplayTests {
    func puts(_ count: Int) -> [WorkloadOperation] {
        (0..<count).map { WorkloadOperation(.put, key: bytes("k\($0)"), valueSize: 10) }
    }

    @Test("batches are applied as one call and counted as one operation")
    func batches() throws {
        let scratch = try ScratchDirectory("replay-batch")
        let path = try trace([WorkloadOperation(.begin)] + puts(3) + [WorkloadOperation(.commit), WorkloadOperation(.get, key: bytes("k1"))], in: scratch)
        let store = ScriptedStore()
        var replayer = Replayer(store: store, synthesizer: ValueSynthesizer(seed: 5))
        var reader = try TraceReader(path: path)
        let measurement = try MeasuredReplay().run(&replayer, from: &reader, count: .max)
        #expect(measurement.operations == 2)
        #expect(store.calls == 2, "one apply for the batch, one get")
        #expect(measurement.histograms[MeasuredKind.batch.rawValue].totalCount == 1)
        #expect(try store.inner.scan(from: [], limit: 10).count == 3)
    }

    @Test("paced replay measures from when an operation was due: a stall shows in the operations queued behind it")
    func noCoordinatedOmission() throws {
        let scratch = try ScratchDirectory("replay-pace")
        let path = try trace(puts(400), in: scratch)
        let store = ScriptedStore()
        store.slowCall = 100
        store.delay = 50_000  // 50 ms: 100 operations' worth at 2,000 ops/s
        var replayer = Replayer(store: store, synthesizer: ValueSynthesizer(seed: 5))
        var reader = try TraceReader(path: path)
        var replay = MeasuredReplay()
        replay.pace = .rate(2000)
        let measurement = try replay.run(&replayer, from: &reader, count: .max)
        let latencies = measurement.histograms[MeasuredKind.put.rawValue]
        #expect(measurement.elapsedSeconds >= 0.19, "400 operations at 2,000/s take 0.2 s")
        // Unpaced, one operation of 400 would be slow (p99 fast). Paced, the ~100 operations due
        // during the stall waited for it: at least the slowest 20% are ≥ 10 ms late.
        #expect(latencies.valueAtPercentile(80) >= 10_000_000, "p80 \(latencies.valueAtPercentile(80)) ns")
        #expect(latencies.max >= 50_000_000)
    }

    @Test("operations that overlap maintenance are counted apart")
    func maintenanceOverlap() throws {
        let scratch = try ScratchDirectory("replay-maintenance")
        let path = try trace(puts(100), in: scratch)
        let store = ScriptedStore()
        store.maintenance = 40..<50
        var replayer = Replayer(store: store, synthesizer: ValueSynthesizer(seed: 5))
        var reader = try TraceReader(path: path)
        let measurement = try MeasuredReplay().run(&replayer, from: &reader, count: .max)
        // Calls 40…49 run while it is marked; call 39's end and call 50's start bracket it too.
        #expect((10...11).contains(measurement.duringMaintenance.totalCount), "\(measurement.duringMaintenance.totalCount)")
        #expect(store.metrics.events().count == 1)
    }

    @Test("pace parsing")
    func pace() throws {
        #expect(try Pace(parsing: "max") == .max)
        #expect(try Pace(parsing: "recorded") == .recorded(speedup: 1))
        #expect(try Pace(parsing: "recorded:10") == .recorded(speedup: 10))
        #expect(try Pace(parsing: "rate:5000") == .rate(5000))
        for bad in ["fast", "rate", "rate:-1", "recorded:0", "max:2"] {
            #expect(throws: StoreError.self, "\(bad)") { try Pace(parsing: bad) }
        }
    }
}
