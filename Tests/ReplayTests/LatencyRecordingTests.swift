import Histogram
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing
@testable import Replay
import Workload

/// Latencies reach the histograms once per operation, through `LatencyBatch` and whole measured
/// intervals, and synthesized values are the same whether the replay prepared them or not.
@Suite("Latency recording")
struct LatencyRecordingTests {
    /// Reads and writes over a few keys, more of them than a latency batch holds.
    func mixed(_ count: Int) -> [WorkloadOperation] {
        (0..<count).map { index in
            let key = bytes("key\(index % 97)")
            switch index % 4 {
            case 0: return WorkloadOperation(.put, key: key, valueSize: 40 + index % 50)
            case 1: return WorkloadOperation(.readModifyWrite, key: key, valueSize: 64)
            case 2: return WorkloadOperation(.scan, key: key, scanCount: 5)
            default: return WorkloadOperation(.get, key: key)
            }
        }
    }

    @Test("a batch records exactly what recording one by one does, huge values included")
    func batchMatchesDirect() {
        var random = SeededRandom(seed: 11)
        var batched = MeasuredKind.allCases.map { _ in makeHistogram() }
        var direct = MeasuredKind.allCases.map { _ in makeHistogram() }
        var batch = LatencyBatch()
        defer { batch.deallocate() }
        for step in 0..<(LatencyBatch.capacity * 3 + 17) {
            let kind = MeasuredKind.allCases[Int(random.next() % UInt64(MeasuredKind.allCases.count))]
            // A clock read that went backwards wraps to a huge latency: not recorded either way.
            let latency = step == 300 ? UInt64.max - 5 : random.next() % 5_000_000
            batch.add(kind, latency, flushingInto: &batched)
            direct[kind.rawValue].record(latency)
        }
        batch.flush(into: &batched)
        for kind in MeasuredKind.allCases {
            let (a, b) = (batched[kind.rawValue], direct[kind.rawValue])
            #expect(a.totalCount == b.totalCount, "\(kind.name)")
            #expect(a.max == b.max && a.min == b.min, "\(kind.name)")
            for percentile in [1.0, 50, 90, 99, 99.9, 100] {
                #expect(a.valueAtPercentile(percentile) == b.valueAtPercentile(percentile), "\(kind.name) p\(percentile)")
            }
        }
        #expect(batched.map(\.totalCount).reduce(0, +) == UInt64(LatencyBatch.capacity * 3 + 16))
    }

    @Test("every measured operation is counted once, across many short intervals and a warm-up")
    func countsAcrossIntervals() throws {
        let scratch = try ScratchDirectory("latency-intervals")
        let operations = mixed(6000)
        let path = try trace(operations, in: scratch)
        for warmUp in [nil, WarmUp.operations(1234)] {
            var replayer = Replayer(store: MemoryStore(), synthesizer: ValueSynthesizer(seed: 3))
            var reader = try TraceReader(path: path)
            var replay = MeasuredReplay()
            replay.sampleInterval = 0.01
            replay.warmUp = warmUp
            let progress = Reported()
            replay.progress = { completed, _, _ in progress.completed = completed }
            let measurement = try replay.run(&replayer, from: &reader, count: .max)
            let expected = warmUp == nil ? 6000 : 6000 - 1234
            #expect(measurement.operations == expected)
            let recorded = measurement.histograms.map(\.totalCount).reduce(0, +)
            #expect(recorded == UInt64(expected), "warm-up \(String(describing: warmUp))")
            #expect(measurement.histograms[MeasuredKind.scan.rawValue].totalCount > 0)
            // The time series saw every operation, warm-up included.
            #expect(progress.completed == 6000)
            #expect(measurement.timeseries.t.count > 1, "several intervals closed")
        }
    }

    /// The last operation count the time series reported.
    final class Reported {
        var completed = 0
    }

    @Test("values written through a measured replay are the ones a plain replay synthesizes")
    func preparedValues() throws {
        let scratch = try ScratchDirectory("latency-values")
        let path = try trace(mixed(2000), in: scratch)
        let synthesizer = ValueSynthesizer(seed: 9)
        let measuredStore = MemoryStore()
        var measuredReplayer = Replayer(store: measuredStore, synthesizer: synthesizer)
        var reader = try TraceReader(path: path)
        _ = try MeasuredReplay().run(&measuredReplayer, from: &reader, count: .max)

        let plainStore = MemoryStore()
        var plain = Replayer(store: plainStore, synthesizer: synthesizer)
        var plainReader = try TraceReader(path: path)
        var operation = WorkloadOperation(.get)
        while try plainReader.next(into: &operation) { _ = try plain.execute(operation, start: 0, mark: 0) }
        let measured = try measuredStore.scan(from: [], limit: .max)
        #expect(!measured.isEmpty)
        #expect(measured.map(\.key) == (try plainStore.scan(from: [], limit: .max)).map(\.key))
        #expect(measured.map(\.value) == (try plainStore.scan(from: [], limit: .max)).map(\.value))
        #expect(measuredReplayer.scanChecksum == plain.scanChecksum)

        // A preparation for another position is not used: the value is synthesized afresh.
        var replayer = Replayer(store: MemoryStore(), synthesizer: synthesizer)
        let put = WorkloadOperation(.put, key: bytes("k"), valueSize: 100)
        replayer.prepare(WorkloadOperation(.put, key: bytes("other"), valueSize: 100), at: 7)
        _ = try replayer.execute(put, at: 8, start: 0, mark: 0)
        var expected: [UInt8] = []
        synthesizer.fill(&expected, size: 100, key: bytes("k"), version: 8)
        #expect(try replayer.store.get(bytes("k")) == expected)
    }
}
