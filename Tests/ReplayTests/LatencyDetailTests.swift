import Foundation
import Histogram
import LSMTree
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing
@testable import Replay
import ResultsSchema
import Workload

/// A reader of HdrHistogram's compressed V2 encoding written from its specification, independent
/// of the encoder: stored-block inflate, the 40-byte header, ZigZag LEB128 counts with zero runs,
/// and each counts index turned back into the lowest value it stands for.
private struct V2Decoder {
    var values: [(value: UInt64, count: UInt64)] = []
    var significantDigits = 0
    var lowest: UInt64 = 0
    var highest: UInt64 = 0

    init(compressed bytes: [UInt8]) throws {
        func bigEndian32(_ bytes: [UInt8], _ at: Int) -> UInt32 { bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        func bigEndian64(_ bytes: [UInt8], _ at: Int) -> UInt64 { bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        #expect(bigEndian32(bytes, 0) == 0x1c84_9314, "compressed V2 cookie")
        let length = Int(bigEndian32(bytes, 4))
        let stream = Array(bytes[8...])
        #expect(stream.count == length)
        #expect((UInt16(stream[0]) << 8 | UInt16(stream[1])) % 31 == 0, "zlib header check bits")
        var inflated: [UInt8] = []
        var offset = 2
        while true {
            let final = stream[offset] & 1
            #expect(stream[offset] >> 1 == 0, "a stored block")
            let blockLength = Int(stream[offset + 1]) | Int(stream[offset + 2]) << 8
            #expect(blockLength ^ (Int(stream[offset + 3]) | Int(stream[offset + 4]) << 8) == 0xFFFF)
            inflated += stream[offset + 5..<offset + 5 + blockLength]
            offset += 5 + blockLength
            if final == 1 { break }
        }
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in inflated { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        #expect(bigEndian32(stream, offset) == b << 16 | a, "Adler-32")
        #expect(bigEndian32(inflated, 0) == 0x1c84_9313, "V2 cookie")
        let payloadLength = Int(bigEndian32(inflated, 4))
        #expect(inflated.count == 40 + payloadLength)
        significantDigits = Int(bigEndian32(inflated, 12))
        lowest = bigEndian64(inflated, 16)
        highest = bigEndian64(inflated, 24)
        #expect(Double(bitPattern: bigEndian64(inflated, 32)) == 1.0)
        // Bucket geometry for lowest 1 and three digits: 2048 sub-buckets, half 1024.
        let halfMagnitude = 10, half = 1024
        var index = 0
        var position = 40
        while position < inflated.count {
            var raw: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = inflated[position]
                position += 1
                if shift == 56 { raw |= UInt64(byte) << 56; break }
                raw |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            let number = Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
            if number < 0 { index += Int(-number); continue }
            if number > 0 {
                let bucket = max(0, (index >> halfMagnitude) - 1)
                let subBucket = index - (bucket + 1) << halfMagnitude + half
                values.append((UInt64(subBucket) << UInt64(bucket), UInt64(number)))
            }
            index += 1
        }
    }
}

@Suite("Latency detail")
struct LatencyDetailTests {
    @Test("the compressed V2 encoding holds every recorded value's count, at its place in HdrHistogram's counts array")
    func encodingRoundTrip() throws {
        var random = SeededRandom(seed: 21)
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
        for _ in 0..<20_000 {
            // From a few ns to minutes: every bucket size, zero runs of every length.
            let value = UInt64(1) << UInt64(random.below(36)) + UInt64(random.below(1_000))
            histogram.record(value)
        }
        let decoded = try V2Decoder(compressed: HdrHistogramLog.compressed(histogram))
        #expect(decoded.significantDigits == 3 && decoded.lowest == 1 && decoded.highest == 3_600_000_000_000)
        #expect(decoded.values.reduce(0) { $0 + $1.count } == histogram.totalCount)
        var rebuilt = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
        for (value, count) in decoded.values { rebuilt.record(value, count: count) }
        for percentile in [1.0, 25, 50, 90, 99, 99.9, 99.99, 100] {
            #expect(histogram.valuesAreEquivalent(rebuilt.valueAtPercentile(percentile), histogram.valueAtPercentile(percentile)),
                    "p\(percentile): \(rebuilt.valueAtPercentile(percentile)) vs \(histogram.valueAtPercentile(percentile))")
        }
    }

    @Test("ZigZag LEB128 as HdrHistogram writes it: small numbers in one byte, the ninth byte full")
    func zigZag() {
        func encoded(_ value: Int64) -> [UInt8] { var bytes: [UInt8] = []; ZigZag.append(&bytes, value); return bytes }
        #expect(encoded(0) == [0] && encoded(-1) == [1] && encoded(1) == [2] && encoded(63) == [126] && encoded(64) == [0x80, 1])
        #expect(encoded(-300) == [0xD7, 0x04])
        #expect(encoded(Int64.max).count == 9 && encoded(Int64.min).count == 9)
    }

    @Test("the interval log: header, then tagged interval lines whose counts add up to the run's", arguments: [1, 2])
    func intervalLog(threads: Int) throws {
        let scratch = try ScratchDirectory("latency-log")
        let operations = (0..<6_000).map { index -> WorkloadOperation in
            index % 3 == 0 ? WorkloadOperation(.get, key: Array("k\(index % 300)".utf8))
                : WorkloadOperation(.put, key: Array("k\(index % 300)".utf8), valueSize: 16)
        }
        let path = try trace(operations, in: scratch)
        var measured = MeasuredReplay()
        measured.sampleInterval = 0.02
        let measurement = try replayOnMemory(path, threads: threads, measured)
        let series = measurement.timeseries
        #expect(series.p50Microseconds.count == series.t.count && series.p999Microseconds.count == series.t.count && series.maxMicroseconds.count == series.t.count)
        for index in series.t.indices where series.opsPerSecond[index] > 0 {
            #expect(series.p50Microseconds[index] <= series.p99Microseconds[index])
            #expect(series.p99Microseconds[index] <= series.p999Microseconds[index])
            #expect(series.p999Microseconds[index] <= series.maxMicroseconds[index] * 1.001)
        }
        var counts: [String: UInt64] = [:]
        var previousStart = -1.0
        for line in series.latencyLog {
            let fields = line.dropLast().split(separator: ",")
            #expect(fields.count == 5 && fields[0].hasPrefix("Tag="), "\(line)")
            let start = try #require(Double(fields[1]))
            #expect(start >= previousStart - 1e-9)
            previousStart = start
            let bytes = try #require(Data(base64Encoded: String(fields[4])))
            let decoded = try V2Decoder(compressed: Array(bytes))
            counts[String(fields[0].dropFirst(4)), default: 0] += decoded.values.reduce(0) { $0 + $1.count }
        }
        #expect(counts["get"] == 2_000 && counts["put"] == 4_000 && counts["all"] == 6_000, "\(counts)")
        #expect(HdrHistogramLog.header(startTime: 1_700_000_000).contains("#[Histogram log format version 1.3]\n#[StartTime: 1700000000.000 "))
    }

    @Test("--percentiles lists parse in order without repeats; anything out of range is refused")
    func percentileLists() {
        #expect(PercentileList.parse("99.99, 50,99,50") == [50, 99, 99.99])
        #expect(PercentileList.parse("0") == nil && PercentileList.parse("101") == nil && PercentileList.parse("p99") == nil && PercentileList.parse("") == nil)
        #expect(PercentileList.label(50) == "p50" && PercentileList.label(99.9) == "p99.9" && PercentileList.label(99.99) == "p99.99")
    }

    @Test("the 95% interval of a mean: Student's t for few repetitions, none for one")
    func confidence() throws {
        #expect(SampleStatistics.meanConfidence95([5]) == nil)
        let two = try #require(SampleStatistics.meanConfidence95([9, 11]))
        #expect(two.mean == 10 && abs(two.halfWidth - 12.706) < 1e-9)
        let five = try #require(SampleStatistics.meanConfidence95([10, 10, 10, 10, 10]))
        #expect(five.halfWidth == 0)
        let spread = try #require(SampleStatistics.meanConfidence95([8, 9, 10, 11, 12]))
        #expect(abs(spread.halfWidth - 2.776 * (2.5 / 5).squareRoot()) < 1e-9)
    }
}

@Suite("Cache and page-cache accounting")
struct CacheAccountingTests {
    @Test("page-cache residency: a file just written is resident, and not after its pages are dropped")
    func residency() throws {
        let scratch = try ScratchDirectory("residency")
        let directory = scratch.child("store")
        let fileSystem = PosixFileSystem()
        try StorageDirectory.createPath(directory, fileSystem: fileSystem)
        let storage = StorageDirectory(path: directory, fileSystem: fileSystem, metrics: StoreMetrics())
        try storage.writeAtomically("data", contents: [UInt8](repeating: 7, count: 1 << 20))
        try storage.writeAtomically("small", contents: [1, 2, 3])
        let before = try #require(PageCacheResidency.measure(directory: directory))
        #expect(before.total == (1 << 20) + 3)
        #expect(before.resident == before.total, "written and synced pages stay cached: \(before)")
        let fd = try fileSystem.open(directory + "/data", mode: .readOnly)
        try fileSystem.dropCachedPages(fd)
        fileSystem.close(fd)
        let after = try #require(PageCacheResidency.measure(directory: directory))
        #expect(after.total == before.total && after.resident < before.resident / 2, "\(after)")
        #expect(PageCacheResidency.measure(directory: scratch.child("missing")) == nil)
    }

    @Test("a run records the engine's own cache lookups over the run phase, and leaves them out where the engine has none")
    func cacheCounters() throws {
        let scratch = try ScratchDirectory("cache-use")
        // 3,000 records of 1 KiB in a 64 KiB memtable: reads go to SST blocks through the cache.
        let plan = try testPlan("ycsb-c", seed: 3, overrides: ["recordcount": "3000", "operationcount": "6000", "fieldlength": "1024"],
                                settings: ["lsm.write_buffer_size": "64KiB"], in: scratch)
        let lsm = try EngineBenchmark(engine: LSMStore.descriptor, plan: plan, scratch: scratch.path).run(repetition: 1, harnessOverhead: 0)
        let cache = try #require(lsm.cache)
        #expect(cache.hits + cache.misses >= 6_000, "every get past the memtable looks a block up: \(cache)")
        #expect(cache.hitRate.map { $0 > 0 && $0 <= 1 } == true)
        let pageCache = try #require(lsm.pageCache)
        #expect(pageCache.storeBytesStart > 3_000 * 1024 && pageCache.residentBytesStart <= pageCache.storeBytesStart)
        let memory = try EngineBenchmark(engine: MemoryStore.descriptor, plan: plan, scratch: scratch.path).run(repetition: 1, harnessOverhead: 0)
        #expect(memory.cache == nil)
    }
}

@Suite("Aged stores")
struct AgedStoreTests {
    /// `--age N` writes the loaded records N times more, each round with values of its own, before
    /// the run phase; the run then meets a store with the same live data that has been through N
    /// rounds of overwrites (and the compactions they caused).
    @Test("ageing overwrites the loaded records N times and leaves the same live data for the run")
    func ageing() throws {
        let scratch = try ScratchDirectory("aged")
        var settings: [String: String] = [:]
        for (name, value) in LSMStore.descriptor.stressSettings { settings["lsm." + name] = value }
        var plan = try testPlan("ycsb-a", seed: 8, overrides: ["recordcount": "2000", "operationcount": "3000"], settings: settings, in: scratch)
        let fresh = try EngineBenchmark(engine: LSMStore.descriptor, plan: plan, scratch: scratch.path).run(repetition: 1, harnessOverhead: 0)
        plan.ageRounds = 4
        let aged = try EngineBenchmark(engine: LSMStore.descriptor, plan: plan, scratch: scratch.path).run(repetition: 2, harnessOverhead: 0)
        #expect(fresh.age == nil)
        #expect(aged.age?.ops == 4 * 2000)
        #expect(aged.disk.liveBytes == fresh.disk.liveBytes, "the same keys and value sizes")
        #expect(aged.ops == fresh.ops)
    }

    /// A store bulk-loaded in key order has its LSM levels over disjoint key ranges: the first
    /// compactions of random updates move files down or merge them with little. One round of
    /// ageing (the records rewritten in shuffled order) spreads every level over the whole key
    /// space, so the same updates cost more bytes per byte written. (Rewriting the records in
    /// their load order keeps more of the bulk-loaded shape: 1.1–1.2× instead of 1.3–1.6×.)
    @Test("an aged lsm store writes more bytes per user byte than one bulk-loaded in key order")
    func agedLSMWriteAmplification() throws {
        let scratch = try ScratchDirectory("aged-wa")
        let settings = ["lsm.level1_size": "256KiB", "lsm.write_buffer_size": "64KiB", "lsm.target_file_size": "64KiB"]
        var plan = try testPlan("ycsb-a", seed: 5, overrides: [
            "recordcount": "12000", "operationcount": "5000", "fieldcount": "1", "fieldlength": "1000",
            "requestdistribution": "uniform", "insertorder": "ordered", "zeropadding": "12",
        ], settings: settings, in: scratch)
        let fresh = try EngineBenchmark(engine: LSMStore.descriptor, plan: plan, scratch: scratch.path).run(repetition: 1, harnessOverhead: 0)
        plan.ageRounds = 1
        let aged = try EngineBenchmark(engine: LSMStore.descriptor, plan: plan, scratch: scratch.path).run(repetition: 2, harnessOverhead: 0)
        let freshAmp = try #require(fresh.io.writeAmp)
        let agedAmp = try #require(aged.io.writeAmp)
        #expect(fresh.io.userBytesWritten == aged.io.userBytesWritten, "the same run phase")
        // Measured 6.8–7.8 fresh against 9.3–11.0 aged over six debug runs (7.3 against 10.5
        // in release builds); background compactions' timing moves each by several percent.
        #expect(agedAmp > freshAmp * 1.1, "write amp fresh \(freshAmp), aged \(agedAmp)")
    }
}
