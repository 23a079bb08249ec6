import Engines
import FaultInjection
import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

/// Engines whose every file operation goes through storebench's durable file layer.
let layeredEngines = EngineRegistry.ours.filter(\.isPersistent).map(\.name) + EngineRegistry.variants

/// A seeded stream of puts, deletes and batches, with settings that make engines compact often.
struct FaultWorkload {
    var random: SeededRandom
    /// Settings that make the engine compact (flush, split) often on this small workload.
    static func settings(_ engine: String) -> [String: String] {
        (try? EngineRegistry.engine(named: engine))?.stressSettings ?? [:]
    }

    mutating func next() -> WriteBatch {
        var batch = WriteBatch()
        for _ in 0..<(random.below(4) == 0 ? 1 + random.below(4) : 1) {
            let key = bytes("key-\(random.below(300))")
            if random.below(5) == 0 { batch.delete(key) } else { batch.put(key, random.bytes(20 + random.below(200))) }
        }
        return batch
    }
}

func contents(_ store: any Store) throws -> [[UInt8]: [UInt8]] {
    var result: [[UInt8]: [UInt8]] = [:]
    try store.scan(from: [], limit: Int.max) { key, value in result[Array(key)] = Array(value) }
    return result
}

@Suite("Fault injection")
struct FaultTests {
    @Test("an I/O error at the Nth write, sync, truncate, rename or unlink: reported, nothing acknowledged lost, the store opens",
          arguments: layeredEngines, ["pwrite", "fdatasync", "fsync", "ftruncate", "rename", "unlink"])
    func ioErrors(engine name: String, call: String) throws {
        let engine = try EngineRegistry.engine(named: name)
        // Some engines never make some calls (`cow` rewrites one file in place and unlinks
        // nothing): count the calls of a fault-free run first.
        let counter = FaultyFileSystem(failing: call, nth: .max, errno: EIO)
        do {
            let scratch = try ScratchDirectory("fault-count-\(name)-\(call)")
            defer { scratch.remove() }
            let store = try engine.open(scratch.child("store"), StoreOptions(durability: .always, fileSystem: counter, settings: FaultWorkload.settings(name)))
            var workload = FaultWorkload(random: SeededRandom(seed: 1))
            for _ in 0..<400 { try store.apply(workload.next()) }
            try store.close()
        }
        guard counter.calls > 0 else { return }
        var fired = 0
        for nth in stride(from: 1, through: min(60, counter.calls), by: 7) {
            for code in [EIO, ENOSPC] {
                let scratch = try ScratchDirectory("fault-\(name)-\(call)")
                let path = scratch.child("store")
                let faulty = FaultyFileSystem(failing: call, nth: nth, errno: code)
                let settings = FaultWorkload.settings(name)
                let acknowledged = MemoryStore()
                var attempted = acknowledged
                var workload = FaultWorkload(random: SeededRandom(seed: UInt64(nth)))
                var failedBatch: WriteBatch?
                do {
                    let store = try engine.open(path, StoreOptions(durability: .always, fileSystem: faulty, settings: settings))
                    for _ in 0..<400 {
                        let batch = workload.next()
                        do {
                            try store.apply(batch)
                            try acknowledged.apply(batch)
                        } catch let error as StoreError {
                            if case .io = error {} else if case .library = error {} else { Issue.record("\(name): unexpected \(error)") }
                            failedBatch = batch
                            break
                        }
                    }
                    try? store.close()
                } catch let error as StoreError {
                    guard case .io = error else { throw error }  // the fault hit the open itself
                }
                if faulty.fired { fired += 1 }
                let reopened = try engine.open(path, StoreOptions(durability: .always, settings: settings))
                defer { try? reopened.close() }
                let got = try contents(reopened)
                let want = try contents(acknowledged)
                if got != want, let failedBatch {
                    attempted = MemoryStore()
                    try attempted.apply(WriteBatch(try acknowledged.scan(from: [], limit: .max).map { .put(key: $0.key, value: $0.value) }))
                    try attempted.apply(failedBatch)
                    #expect(got == (try contents(attempted)), "\(name), \(call) #\(nth) errno \(code): neither the acknowledged state nor it plus the failed commit")
                } else {
                    #expect(got == want, "\(name), \(call) #\(nth) errno \(code): acknowledged commits lost")
                }
            }
        }
        #expect(fired > 0, "the fault was reached at least once")
    }

    @Test("a store on a read-only file system: the open fails naming the path and EROFS, and no file changes", arguments: layeredEngines)
    func readOnlyFileSystem(engine name: String) throws {
        let engine = try EngineRegistry.engine(named: name)
        let scratch = try ScratchDirectory("read-only-\(name)")
        let path = scratch.child("store")
        do {
            let store = try engine.open(path, StoreOptions(durability: .always, settings: FaultWorkload.settings(name)))
            var workload = FaultWorkload(random: SeededRandom(seed: 5))
            for _ in 0..<300 { try store.apply(workload.next()) }
            try store.close()
        }
        func snapshot() throws -> [String: Data] {
            var files: [String: Data] = [:]
            for file in try FileManager.default.contentsOfDirectory(atPath: path) {
                files[file] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + file))
            }
            return files
        }
        let before = try snapshot()
        do {
            let store = try engine.open(path, StoreOptions(durability: .always, fileSystem: ReadOnlyFileSystem(), settings: FaultWorkload.settings(name)))
            try store.close()
            Issue.record("\(name): opened for writing on a read-only file system")
        } catch let error as StoreError {
            #expect(error.description.contains(path) && error.description.contains("Read-only file system"), "\(name): \(error)")
        }
        #expect(try snapshot() == before, "\(name): files unchanged")
        // A new store there fails the same way.
        #expect(throws: StoreError.self) {
            try engine.open(scratch.child("new"), StoreOptions(durability: .always, fileSystem: ReadOnlyFileSystem()))
        }
    }

    @Test("byte flips in every kind of file are detected with their file, or proven harmless", arguments: layeredEngines)
    func corruption(engine name: String) throws {
        let engine = try EngineRegistry.engine(named: name)
        let settings = FaultWorkload.settings(name)
        let scratch = try ScratchDirectory("flip-\(name)")
        let pristine = scratch.child("pristine")
        let oracle = MemoryStore()
        do {
            let store = try engine.open(pristine, StoreOptions(durability: .none, settings: settings))
            var workload = FaultWorkload(random: SeededRandom(seed: 99))
            for _ in 0..<1500 {
                let batch = workload.next()
                try store.apply(batch)
                try oracle.apply(batch)
            }
            try store.close()
        }
        let expected = try contents(oracle)
        let files = try FileManager.default.contentsOfDirectory(atPath: pristine).filter { $0 != "LOCK" }.sorted()
        let kinds = Dictionary(grouping: files) { $0.split(separator: ".").count > 1 ? String($0.split(separator: ".").last!) : $0 }
        #expect(kinds.count >= 2, "several kinds of file: \(files)")
        var random = SeededRandom(seed: 5)
        var detected = 0
        var harmless = 0
        for (kind, members) in kinds.sorted(by: { $0.key < $1.key }) {
            for trial in 0..<25 {
                let file = members[random.below(members.count)]
                let copy = scratch.child("copy-\(kind)-\(trial)")
                try FileManager.default.copyItem(atPath: pristine, toPath: copy)
                var data = try Data(contentsOf: URL(fileURLWithPath: copy + "/" + file))
                guard !data.isEmpty else { continue }
                let offset = random.below(data.count)
                data[offset] ^= UInt8(1 << random.below(8))
                try data.write(to: URL(fileURLWithPath: copy + "/" + file))
                do {
                    let store = try engine.open(copy, StoreOptions(durability: .none, settings: settings))
                    defer { try? store.close() }
                    let got = try contents(store)
                    // Opened and read everything without an error: the flip must have changed
                    // nothing a reader sees (dead space, or a redundant copy such as a hint).
                    #expect(got == expected, "\(name): flip in \(file) at \(offset) returned wrong data (\(got.count) of \(expected.count) entries)")
                    harmless += 1
                } catch let error as StoreError {
                    let message = String(describing: error)
                    #expect(message.contains(copy), "\(name): the error names the file: \(message)")
                    detected += 1
                }
                try? FileManager.default.removeItem(atPath: copy)
            }
        }
        #expect(detected > 0, "\(name): some flips are detected (\(detected) detected, \(harmless) harmless)")
    }
}

@Suite("Store opener fuzzing")
struct OpenerFuzzTests {
    /// Random truncations, garbage runs and extra files in a store directory, for a bounded time:
    /// each open ends in a store that reads everything, or in an error — never a crash or a hang.
    /// A store that opens returns no data it was never given (every pair is a value once put for
    /// that key), its `get` agrees with its `scan`, and a stray file changes nothing.
    @Test("mutated store directories open or fail cleanly, and never return data they were not given", arguments: layeredEngines)
    func fuzzOpen(engine name: String) throws {
        let engine = try EngineRegistry.engine(named: name)
        let settings = FaultWorkload.settings(name)
        let scratch = try ScratchDirectory("fuzz-open-\(name)")
        let pristine = scratch.child("pristine")
        var history: [[UInt8]: Set<[UInt8]>] = [:]
        var expected: [[UInt8]: [UInt8]] = [:]
        do {
            let store = try engine.open(pristine, StoreOptions(durability: .none, settings: settings))
            var workload = FaultWorkload(random: SeededRandom(seed: 17))
            for _ in 0..<800 {
                let batch = workload.next()
                for case let .put(key, value) in batch.operations { history[key, default: []].insert(value) }
                try store.apply(batch)
            }
            expected = try contents(store)
            try store.close()
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: pristine).filter { $0 != "LOCK" }.sorted()
        var random = SeededRandom(seed: 23)
        let started = MonotonicClock.now()
        var trials = 0
        var opened = 0
        while MonotonicClock.seconds(since: started) < 1.5 {
            trials += 1
            let copy = scratch.child("copy-\(trials)")
            try FileManager.default.copyItem(atPath: pristine, toPath: copy)
            defer { try? FileManager.default.removeItem(atPath: copy) }
            let file = copy + "/" + files[random.below(files.count)]
            var data = try Data(contentsOf: URL(fileURLWithPath: file))
            let mutation = random.below(3)
            switch mutation {
            case 0: data = data.prefix(random.below(data.count + 1))
            case 1:
                if !data.isEmpty {
                    let at = random.below(data.count)
                    for offset in at..<min(data.count, at + 1 + random.below(64)) { data[offset] = UInt8(random.below(256)) }
                }
            default:
                try Data(random.bytes(random.below(200))).write(to: URL(fileURLWithPath: copy + "/000099.extra"))
            }
            try data.write(to: URL(fileURLWithPath: file))
            do {
                let store = try engine.open(copy, StoreOptions(durability: .none, settings: settings))
                let got = try contents(store)
                for (key, value) in got {
                    #expect(history[key]?.contains(value) == true, "\(name): \(String(decoding: key, as: UTF8.self)) holds a value never put (trial \(trials))")
                    #expect(try store.get(key) == value, "\(name): get and scan disagree on \(String(decoding: key, as: UTF8.self))")
                }
                if mutation == 2 { #expect(got == expected, "\(name): a stray file changed what the store holds") }
                try store.close()
                opened += 1
            } catch let error as StoreError {
                // Reported, naming what is wrong: a stray file is named when it is the reason.
                if mutation == 2 { #expect(error.description.contains("000099.extra"), "\(name): a stray file is refused by name: \(error)") }
            }
        }
        #expect(trials > 5 && opened > 0, "\(name): \(trials) mutated directories tried, \(opened) opened")
    }
}
