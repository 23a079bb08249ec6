import Engines
import FaultInjection
import Foundation
import Replay
import StoreCore
import StoreTestSupport
import Testing
import Workload

/// Writes bytes through a file system and returns the descriptor's file path helpers.
private func write(_ fs: any FileSystem, _ fd: Int32, _ bytes: [UInt8], at offset: Int) throws {
    _ = try bytes.withUnsafeBytes { buffer throws(SystemCallError) in try fs.pwrite(fd, from: buffer, at: Int64(offset)) }
}

private func read(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}

@Suite("Power-loss model")
struct PowerLossModelTests {
    @Test("unsynced writes survive whole, torn by sector or out of order; synced bytes always; state 0 keeps only synced data")
    func unsyncedWrites() throws {
        let scratch = try ScratchDirectory("model-writes")
        let path = scratch.child("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let power = try PowerLossFileSystem(directory: path, seed: 7)
        let fd = try power.open(path + "/data", mode: .createExclusive)
        let synced = [UInt8](repeating: 1, count: 4096)
        try write(power, fd, synced, at: 0)
        try power.fdatasync(fd)
        try power.syncDirectory(path)
        // Three more pages, unsynced, each written twice (two versions per page).
        for page in 1...3 {
            try write(power, fd, [UInt8](repeating: UInt8(10 + page), count: 4096), at: page * 4096)
        }
        for page in 1...3 {
            try write(power, fd, [UInt8](repeating: UInt8(20 + page), count: 4096), at: page * 4096)
        }
        power.cut()
        #expect(throws: SystemCallError.self) { try write(power, fd, [1], at: 0) }
        let first = power.crashState(0)
        #expect(first.files["data"] == synced, "state 0 holds exactly the synced bytes")
        var torn = 0
        var reordered = 0
        for index in 1..<64 {
            let state = power.crashState(index)
            try power.materialize(state)
            let bytes = try #require(read(path + "/data"))
            #expect(Array(bytes.prefix(4096)) == synced, "state \(index): synced bytes kept")
            // Every sector holds one version of its page (or zeros where nothing landed).
            for sector in stride(from: 4096, to: bytes.count, by: 512) {
                let chunk = bytes[sector..<min(bytes.count, sector + 512)]
                let page = sector / 4096
                let allowed: Set<UInt8> = [0, UInt8(10 + page), UInt8(20 + page)]
                #expect(Set(chunk).count == 1 && allowed.contains(chunk.first!), "state \(index): sector at \(sector) mixes versions: \(Set(chunk))")
            }
            if state.pagesTorn > 0 { torn += 1 }
            if state.reordered { reordered += 1 }
        }
        #expect(torn > 0 && reordered > 0, "some states tear a page (\(torn)) and some reorder writes (\(reordered))")
        #expect(power.crashState(5).files == power.crashState(5).files, "states are reproducible from the seed")
    }

    @Test("an unsynced rename happened or not, never half; an unsynced create may be undone with it")
    func entries() throws {
        let scratch = try ScratchDirectory("model-entries")
        let path = scratch.child("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: URL(fileURLWithPath: path + "/CURRENT"))
        let power = try PowerLossFileSystem(directory: path, seed: 11)
        let fd = try power.open(path + "/CURRENT.tmp", mode: .createExclusive)
        try write(power, fd, Array("new".utf8), at: 0)
        try power.fsync(fd)
        try power.rename(path + "/CURRENT.tmp", to: path + "/CURRENT")
        let other = try power.open(path + "/extra", mode: .createExclusive)
        power.close(other)
        power.cut()
        var renamed = 0
        var undone = 0
        for index in 0..<40 {
            let files = power.crashState(index).files
            switch (files["CURRENT"].map { String(decoding: $0, as: UTF8.self) }, files["CURRENT.tmp"] != nil) {
            case ("new", false): renamed += 1
            case ("old", true): undone += 1
            case ("old", false): undone += 1  // the create of the temporary file was undone too
            case let (current, tmp): Issue.record("state \(index): CURRENT \(current ?? "missing"), tmp present: \(tmp)")
            }
            if index == 0 { #expect(files["extra"] == nil && files["CURRENT"] == Array("old".utf8)) }
        }
        #expect(renamed > 0 && undone > 0, "renamed in \(renamed) states, undone in \(undone)")
    }

    @Test("a failed fsync drops the file's unsynced data: a retried fsync succeeds without writing it")
    func failedSync() throws {
        let scratch = try ScratchDirectory("model-fsync")
        let path = scratch.child("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let power = try PowerLossFileSystem(directory: path)
        let fd = try power.open(path + "/log", mode: .createExclusive)
        try power.syncDirectory(path)
        try write(power, fd, [1, 2, 3], at: 0)
        power.failSync(nth: 1)
        #expect(throws: SystemCallError.self) { try power.fdatasync(fd) }
        try power.fdatasync(fd)  // "succeeds": the pages are clean
        try write(power, fd, [4], at: 3)
        try power.fdatasync(fd)
        #expect(read(path + "/log") == [1, 2, 3, 4], "the data stays readable")
        try power.powerLoss()
        #expect(read(path + "/log") == [0, 0, 0, 4], "only the byte written after the error was synced")
        #expect(power.syncErrors == 1)
    }

    @Test("a full disk fails every write until space is freed")
    func diskFull() throws {
        let scratch = try ScratchDirectory("model-enospc")
        let path = scratch.child("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let power = try PowerLossFileSystem(directory: path)
        let fd = try power.open(path + "/f", mode: .createExclusive)
        power.fillDisk(afterWrites: 2, failing: 3)
        try write(power, fd, [1], at: 0)
        for _ in 0..<3 {
            #expect(throws: SystemCallError(("pwrite"), ENOSPC)) { try write(power, fd, [2], at: 1) }
        }
        try write(power, fd, [3], at: 1)
        #expect(power.spaceErrors == 3 && read(path + "/f") == [1, 3])
    }
}

/// A layer that lies about durability, as a broken engine would: it skips directory fsyncs, or
/// reports a failed fsync as a success.
final class LyingFileSystem: InterposingFileSystem {
    let lower: any FileSystem
    let skipDirectorySync: Bool
    let ignoreSyncErrors: Bool

    init(_ lower: any FileSystem, skipDirectorySync: Bool = false, ignoreSyncErrors: Bool = false) {
        self.lower = lower
        self.skipDirectorySync = skipDirectorySync
        self.ignoreSyncErrors = ignoreSyncErrors
    }

    func fsync(_ fd: Int32) throws(SystemCallError) {
        do { try lower.fsync(fd) } catch where ignoreSyncErrors && error.errno == EIO {}
    }
    func fdatasync(_ fd: Int32) throws(SystemCallError) {
        do { try lower.fdatasync(fd) } catch where ignoreSyncErrors && error.errno == EIO {}
    }
    func syncDirectory(_ path: String) throws(SystemCallError) {
        if !skipDirectorySync { try lower.syncDirectory(path) }
    }
}

@Suite("Crash model catches broken durability")
struct BrokenDurabilityTests {
    /// A trace of puts, deletes and 3-write batches over 300 keys, values explicit.
    static func trace(_ scratch: ScratchDirectory, records: Int = 6000) throws -> (path: String, records: Int) {
        let path = scratch.child("trace")
        let writer = try TraceWriter(path: path, header: TraceHeader([("source", "crash-model-test"), ("load_operations", "0")]))
        var random = SeededRandom(seed: 77)
        var written = 0
        while written < records {
            let key = Array("key-\(random.below(300))".utf8)
            switch random.below(10) {
            case 0:
                try writer.append(WorkloadOperation(.delete, key: key))
                written += 1
            case 1:
                try writer.append(WorkloadOperation(.begin))
                for _ in 0..<3 { try writer.append(WorkloadOperation(.put, key: Array("key-\(random.below(300))".utf8), value: random.bytes(50 + random.below(400)))) }
                try writer.append(WorkloadOperation(.commit))
                written += 5
            default:
                try writer.append(WorkloadOperation(.put, key: key, value: random.bytes(50 + random.below(400))))
                written += 1
            }
        }
        return (path, try writer.finish())
    }

    static func cycles(_ engine: String, _ fault: FaultCycles.Fault, iterations: Int, layer: (@Sendable (any FileSystem) -> any FileSystem)?) throws -> FaultCycles.Report {
        let scratch = try ScratchDirectory("broken-\(engine)-\(fault.rawValue)")
        let (path, records) = try trace(scratch)
        let descriptor = try EngineRegistry.engine(named: engine)
        var cycles = FaultCycles(configuration: .init(iterations: iterations, seed: 3, window: 300), faults: [fault], tracePath: path,
                                 totalRecords: records, synthesizer: ValueSynthesizer(seed: 1))
        cycles.fileSystemLayer = layer
        var options = StoreOptions(durability: .always)
        options.settings = descriptor.stressSettings
        return try #require(try cycles.run(engine: descriptor, directory: scratch.child("store"), options: options).first)
    }

    @Test("power loss: skipping the directory fsync after creating or renaming files is caught", arguments: ["log", "lsm"])
    func skippedDirectorySync(engine: String) throws {
        let honest = try Self.cycles(engine, .powerLoss, iterations: 10, layer: nil)
        #expect(honest.passed, "\(engine) as it is: \(honest)")
        let broken = try Self.cycles(engine, .powerLoss, iterations: 10) { LyingFileSystem($0, skipDirectorySync: true) }
        #expect(!broken.passed, "\(engine) without directory fsyncs loses acknowledged commits: \(broken)")
        #expect(broken.lostCommits + broken.failedOpens + broken.wrongStates > 0)
    }

    @Test("power loss under interval: log[deletes=tombstone-file] keeps deletes and later puts in commit order across its two files")
    func tombstoneFileOrder() throws {
        let scratch = try ScratchDirectory("tombstone-order")
        // The crash workload: overwrites, 20% deletes, read-modify-writes and batches over 2,000 keys.
        let workload = try WorkloadMaterializer.materialize("crash", seed: 1, overrides: ["operationcount": "30000"], scratch: scratch.path)
        let records = try #require(try TraceReader.recordCount(path: workload.path))
        let descriptor = try EngineRegistry.engine(named: "log[deletes=tombstone-file]")
        let cycles = FaultCycles(configuration: .init(iterations: 15, seed: 1, durability: .interval, statesPerCut: 8),
                                 faults: [.powerLoss], tracePath: workload.path, totalRecords: records, synthesizer: ValueSynthesizer(seed: 1))
        var options = StoreOptions(durability: .interval)
        options.settings = descriptor.stressSettings
        let report = try #require(try cycles.run(engine: descriptor, directory: scratch.child("store"), options: options).first)
        #expect(report.states >= 100 && report.recovered > 0)
        #expect(report.passed && report.partialBatches == 0 && report.wrongStates == 0, "\(report)")
    }

    @Test("fsync EIO: a layer that reports the failed fsync as a success (so the engine keeps acknowledging) is caught",
          arguments: ["cow", "lsm"])
    func ignoredSyncError(engine: String) throws {
        let honest = try Self.cycles(engine, .fsyncError, iterations: 10, layer: nil)
        #expect(honest.passed, "\(engine) as it is: \(honest)")
        #expect(honest.injected > 0)
        // With background flushes and compactions (lsm), whether the data the lie dropped is
        // rewritten before the cut depends on timing, so only an engine without them (cow) must
        // show the loss on every run; the honest check above holds for both.
        guard try !EngineRegistry.engine(named: engine).hasBackgroundMaintenance else { return }
        let broken = try Self.cycles(engine, .fsyncError, iterations: 10) { LyingFileSystem($0, ignoreSyncErrors: true) }
        // Lost commits, or a store that finds its own chunks damaged (never silently wrong data).
        #expect(!broken.passed && broken.lostCommits + broken.wrongStates > 0, "\(engine) acknowledging after a failed fsync loses commits: \(broken)")
    }
}
