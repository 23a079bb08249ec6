import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing
@testable import Workload

/// The shipped samples, found from this file's place in the repository.
let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Workloads/samples").path

func importAll(_ path: String, _ format: InputFormat, skipInvalid: Bool = false) throws -> (Importer, [WorkloadOperation]) {
    var importer = try Importer(path: path, format: format, skipInvalid: skipInvalid)
    var operation = WorkloadOperation(.get)
    var result: [WorkloadOperation] = []
    while try importer.next(into: &operation) { result.append(operation) }
    return (importer, result)
}

func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

@Suite("Importers")
struct ImporterTests {
    @Test("Twitter: columns, op mapping, keys with commas, seconds to microseconds")
    func twitter() throws {
        let (_, operations) = try importAll(samples + "/twitter.csv", .twitter)
        #expect(operations.map(\.kind) == [.get, .put, .get, .put, .put, .put, .put, .put, .put, .put, .delete, .get])
        #expect(operations[1] == WorkloadOperation(.put, key: bytes("q:q:1:8WTfjZU"), valueSize: 147, timestamp: 0))
        #expect(operations[4].key == bytes("session,abc:Kp0"), "a key may contain commas")
        #expect(operations[7].timestamp == 3_000_000)
    }

    @Test("whole-second timestamps spread evenly over their second, in order; other operations untouched")
    func spreadSeconds() throws {
        let (importer, raw) = try importAll(samples + "/twitter.csv", .twitter)
        #expect(importer.hasSecondTimestamps)
        var spreader = BurstSpreader(try Importer(path: samples + "/twitter.csv", format: .twitter))
        var operation = WorkloadOperation(.get)
        var spread: [WorkloadOperation] = []
        while try spreader.next(into: &operation) { spread.append(operation) }
        #expect(spread.count == raw.count)
        #expect(spread.map(\.key) == raw.map(\.key) && spread.map(\.kind) == raw.map(\.kind))
        let times = spread.compactMap(\.timestamp)
        #expect(times == times.sorted(), "spread times keep the recorded order")
        for (original, moved) in zip(raw, spread) {
            let second = try #require(original.timestamp)
            let time = try #require(moved.timestamp)
            #expect(time >= second && time < second + 1_000_000, "each stays within its own second")
        }
        // A second of n operations: one every 1/n s.
        let groups = Dictionary(grouping: spread, by: { $0.timestamp! / 1_000_000 })
        for (_, members) in groups where members.count > 1 {
            let stamps = members.map { $0.timestamp! }
            #expect(Set(stamps).count == stamps.count, "no two operations of a second share a time")
        }
    }

    @Test("CacheLib: columns by name, op_count repeats, keys padded to key_size, leases as gets and sets")
    func cachelib() throws {
        let (_, operations) = try importAll(samples + "/cachelib.csv", .cachelib)
        #expect(operations.map(\.kind) == [.get, .put, .get, .get, .get, .put, .put, .put, .get, .delete, .get])
        #expect(operations[0].key == bytes("1001000000000000"))
        #expect(operations[1].valueSize == 420 && operations[1].timestamp == 100_000_000)
        #expect(operations[5] == WorkloadOperation(.put, key: bytes("1002000000000000"), valueSize: 96, timestamp: 101_000_000))
        #expect(operations[6].key == bytes("100300000000") && operations[6].valueSize == 1200 && operations[7] == operations[6])
        let scratch = try ScratchDirectory("cachelib")
        try write("op,size,key\nSET,10,abc\n", to: scratch.child("reordered.csv"))
        #expect(try importAll(scratch.child("reordered.csv"), .cachelib).1 == [WorkloadOperation(.put, key: bytes("abc"), valueSize: 10)])
        try write("op,size\nSET,10\n", to: scratch.child("nokey.csv"))
        #expect(throws: WorkloadError.malformedLine(file: scratch.child("nokey.csv"), line: 1, reason: "header row has no `key` column (found: op, size)")) {
            try importAll(scratch.child("nokey.csv"), .cachelib)
        }
    }

    @Test("RocksDB human-readable trace: hex keys, type mapping, microsecond timestamps")
    func rocksdb() throws {
        let (_, operations) = try importAll(samples + "/rocksdb.txt", .rocksdb)
        #expect(operations.map(\.kind) == [.put, .get, .put, .readModifyWrite, .scan, .delete, .delete, .get])
        #expect(operations[0] == WorkloadOperation(.put, key: bytes("user00001"), valueSize: 100, timestamp: 1_531_872_940_000_000))
        #expect(operations[4].scanCount == 10)
    }

    @Test("JSON Lines sample imports with batches and hex keys")
    func jsonl() throws {
        let (_, operations) = try importAll(samples + "/sample.jsonl", .jsonl)
        #expect(operations.map(\.kind) == [.put, .get, .begin, .put, .delete, .commit, .scan, .readModifyWrite])
        #expect(operations[3].value == bytes("hello") && operations[4].key == [0, 255, 16])
    }

    @Test("malformed lines name file:line and why; --skip-invalid counts them", arguments: [
        (InputFormat.twitter, "0,k,1,10,1,get,0\nabc,k,1,10,1,get,0\n1,k,1,10,1,get,0\n", "timestamp `abc` is not an integer"),
        (.twitter, "0,k,1,10,1,get,0\n0,k,1,10,1,fly,0\n", "unknown operation `fly`"),
        (.twitter, "0,k,1,10,1,get,0\n0,k,1\n", "expected 7 comma-separated columns, found 3"),
        (.cachelib, "key,op,size\nk,GET,0\nk,SET,big\n", "size `big` is not an integer up to 64 MiB"),
        (.rocksdb, "0x6b 0 0 0 1\nxyz 0 0 0 1\n", "key `xyz` is not hexadecimal (or exceeds 64 KiB)"),
        (.rocksdb, "0x6b 0 0 0 1\n0x6b 4 0 0 1\n", "range deletes (type 4) are not supported"),
        (.jsonl, "{\"op\":\"get\",\"key\":\"k\"}\n{\"op\":\"get\"\n", "not valid JSON"),
    ])
    func malformed(format: InputFormat, text: String, reason: String) throws {
        let scratch = try ScratchDirectory("malformed")
        let path = scratch.child("input")
        try write(text, to: path)
        let line = format == .twitter && reason.hasPrefix("timestamp") ? 2 : text.split(separator: "\n").count
        #expect(throws: WorkloadError.malformedLine(file: path, line: line, reason: reason)) { try importAll(path, format) }
        let (importer, operations) = try importAll(path, format, skipInvalid: true)
        #expect(importer.skipped == 1)
        #expect(importer.skippedExamples.first == "\(path):\(line): \(reason)")
        #expect(!operations.isEmpty)
    }

    @Test("CRLF line endings and blank lines are accepted")
    func lineEndings() throws {
        let scratch = try ScratchDirectory("crlf")
        try write("0,k,1,10,1,get,0\r\n\r\n1,k,1,10,1,set,0\r\n", to: scratch.child("t.csv"))
        let (_, operations) = try importAll(scratch.child("t.csv"), .twitter)
        #expect(operations.map(\.kind) == [.get, .put])
    }
}

@Suite("Recorder and specs")
struct RecorderAndSpecTests {
    @Test("a RecordingStore passes calls through and writes them to a trace, batches as begin…commit")
    func recorder() throws {
        let scratch = try ScratchDirectory("recorder")
        let path = scratch.child("captured.trace")
        let store = try RecordingStore(wrapping: MemoryStore(), tracePath: path, recordValues: true)
        try store.put(bytes("a"), bytes("1"))
        #expect(try store.get(bytes("a")) == bytes("1"))
        var batch = WriteBatch()
        batch.put(bytes("b"), bytes("22"))
        batch.delete(bytes("a"))
        try store.apply(batch)
        #expect(try store.scan(from: [], limit: 5).map(\.key) == [bytes("b")])
        try store.close()
        var reader = try TraceReader(path: path)
        var operation = WorkloadOperation(.get)
        var kinds: [WorkloadOperation.Kind] = []
        var timestamps: [UInt64] = []
        while try reader.next(into: &operation) {
            kinds.append(operation.kind)
            timestamps.append(operation.timestamp ?? 0)
            if operation.kind == .put && operation.key == bytes("b") { #expect(operation.value == bytes("22")) }
            if operation.kind == .scan { #expect(operation.scanCount == 5) }
        }
        #expect(kinds == [.put, .get, .begin, .put, .delete, .commit, .scan])
        #expect(timestamps == timestamps.sorted())
        #expect(reader.header.source == "recorder:memory")
    }

    @Test("YCSB properties syntax: separators, comments, continuations; unknown keys warn with their line")
    func properties() throws {
        let text = "# comment\n! also a comment\nrecordcount=10\noperationcount : 20\nfieldcount 2\nreadproportion=\\\n  0.5\nfrobnicate=1\n\n"
        let spec = try WorkloadSpec(name: "w.properties", text: text)
        #expect(try spec.integer("recordcount", default: 0) == 10)
        #expect(try spec.integer("operationcount", default: 0) == 20)
        #expect(try spec.integer("fieldcount", default: 0) == 2)
        #expect(try spec.double("readproportion", default: 0) == 0.5)
        #expect(spec.warnings == ["w.properties:8: unknown key `frobnicate` ignored"])
        let bad = try WorkloadSpec(name: "b.properties", text: "a=1\nrecordcount=lots\n")
        #expect(throws: WorkloadError.invalidSpec(file: "b.properties", line: 2, reason: "`recordcount` must be a non-negative integer, not `lots`")) {
            try bad.integer("recordcount", default: 0)
        }
        #expect(throws: WorkloadError.self) { try YCSBGenerator(spec: WorkloadSpec(name: "x", ["requestdistribution": "pareto"]), seed: 1) }
    }

    @Test("the specs built into the binary are exactly the files in Workloads/ (run scripts/embed-workloads)")
    func embeddedSpecsMatchFiles() throws {
        let directory = URL(fileURLWithPath: samples).deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".properties") }
        #expect(Set(files.map { String($0.dropLast(11)) }) == Set(EmbeddedWorkloads.specs.keys))
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            #expect(EmbeddedWorkloads.specs[String(file.dropLast(11))].map { $0 + "\n" } == text, "\(file)")
        }
        for name in EmbeddedWorkloads.specs.keys {
            let spec = try WorkloadSpec.load(name)
            #expect(spec.warnings.isEmpty, "\(name): \(spec.warnings)")
            _ = try WorkloadGenerator.make(spec: spec, seed: 1)
        }
    }
}
