import Foundation
import StoreCore
import StoreTestSupport
import Synchronization
import Testing

/// A file system that records every call and can fail a chosen one: the shape of the
/// fault-injecting layer the reliability tests build on.
final class RecordingFileSystem: InterposingFileSystem {
    let lower: any FileSystem = PosixFileSystem()
    let calls = Protected<[String]>([])
    /// Calls named here fail with the given errno.
    let failures = Protected<[String: Int32]>([:])

    private func note(_ call: String, _ detail: String) throws(SystemCallError) {
        calls.withLock { $0.append("\(call) \(detail)") }
        if let code = failures.withLock({ $0[call] }) { throw SystemCallError(call, code) }
    }

    var log: [String] { calls.withLock { $0 } }

    func open(_ path: String, mode: FileOpenMode) throws(SystemCallError) -> Int32 {
        try note("open", "\((path as NSString).lastPathComponent) \(mode)")
        return try lower.open(path, mode: mode)
    }
    func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try note("pwrite", "\(buffer.count)@\(offset)")
        return try lower.pwrite(fd, from: buffer, at: offset)
    }
    func fsync(_ fd: Int32) throws(SystemCallError) {
        try note("fsync", "")
        try lower.fsync(fd)
    }
    func fdatasync(_ fd: Int32) throws(SystemCallError) {
        try note("fdatasync", "")
        try lower.fdatasync(fd)
    }
    func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError) {
        try note("ftruncate", "\(length)")
        try lower.ftruncate(fd, to: length)
    }
    func rename(_ from: String, to: String) throws(SystemCallError) {
        try note("rename", "\((from as NSString).lastPathComponent) \((to as NSString).lastPathComponent)")
        try lower.rename(from, to: to)
    }
    func unlink(_ path: String) throws(SystemCallError) {
        try note("unlink", (path as NSString).lastPathComponent)
        try lower.unlink(path)
    }
    func syncDirectory(_ path: String) throws(SystemCallError) {
        try note("syncDirectory", "")
        try lower.syncDirectory(path)
    }
}

@Suite("Durable file layer")
struct FileLayerTests {
    func makeDirectory(_ fileSystem: any FileSystem = PosixFileSystem()) throws -> (ScratchDirectory, StorageDirectory) {
        let scratch = try ScratchDirectory("filelayer")
        let path = scratch.child("dir")
        try StorageDirectory.createPath(path, fileSystem: fileSystem)
        return (scratch, StorageDirectory(path: path, fileSystem: fileSystem, metrics: StoreMetrics()))
    }

    @Test("atomic replace is: create temp, fsync dir, write, fsync file, rename, fsync dir")
    func atomicWriteOrder() throws {
        let recorder = RecordingFileSystem()
        let (scratch, directory) = try makeDirectory(recorder)
        defer { scratch.remove() }
        recorder.calls.withLock { $0.removeAll() }  // creating the directory synced its parent
        try directory.writeAtomically("CURRENT", contents: bytes("one"))
        #expect(recorder.log == [
            "open CURRENT.tmp createExclusive", "syncDirectory ", "pwrite 3@0", "fsync ",
            "rename CURRENT.tmp CURRENT", "syncDirectory ",
        ])
        try directory.writeAtomically("CURRENT", contents: bytes("second version"))
        #expect(try directory.readAll("CURRENT") == bytes("second version"))
        #expect(try directory.list() == ["CURRENT"], "no temporary file is left behind")
    }

    @Test("remove and rename fsync the directory; metrics count bytes, syncs, files")
    func metricsAndDirectorySyncs() throws {
        let recorder = RecordingFileSystem()
        let (scratch, directory) = try makeDirectory(recorder)
        defer { scratch.remove() }
        let file = try directory.create("data")
        try file.write(bytes("hello"), at: 0)
        try file.write(bytes("world"), at: 5)
        try file.syncData()
        #expect(try file.size() == 10)
        #expect(try file.read(count: 100, at: 3) == bytes("loworld"), "a read at the end is short, not an error")
        file.close()
        try directory.rename("data", to: "data.renamed")
        try directory.remove("data.renamed")
        let snapshot = directory.metrics.snapshot()
        #expect(snapshot.fileBytesWritten == 10)
        #expect(snapshot.fileBytesRead == 7)
        #expect(snapshot.syncs == 4, "create, fdatasync, rename, unlink: \(recorder.log)")
        #expect(snapshot.filesCreated == 1 && snapshot.filesRemoved == 1 && snapshot.renames == 1)
        #expect(recorder.log.suffix(4) == ["rename data data.renamed", "syncDirectory ", "unlink data.renamed", "syncDirectory "])
    }

    @Test("a failing write reports the call, errno and path, and an atomic replace leaves the old file")
    func injectedFailure() throws {
        let recorder = RecordingFileSystem()
        let (scratch, directory) = try makeDirectory(recorder)
        defer { scratch.remove() }
        try directory.writeAtomically("MANIFEST", contents: bytes("good"))
        recorder.failures.withLock { $0["pwrite"] = EIO }
        #expect(throws: StoreError.io(call: "pwrite", errno: EIO, path: directory.path(of: "MANIFEST.tmp"))) {
            try directory.writeAtomically("MANIFEST", contents: bytes("never lands"))
        }
        recorder.failures.withLock { $0.removeAll() }
        #expect(try directory.readAll("MANIFEST") == bytes("good"))
        #expect(try directory.removeTemporaryFiles() == ["MANIFEST.tmp"])
        #expect(try directory.list() == ["MANIFEST"])
        // ENOSPC on fsync is reported as such.
        recorder.failures.withLock { $0["fsync"] = ENOSPC }
        let error = #expect(throws: StoreError.self) { try directory.writeAtomically("MANIFEST", contents: bytes("x")) }
        #expect(String(describing: error!).contains("No space left on device"))
    }

    @Test("opening a missing file names the path and errno")
    func missingFile() throws {
        let (scratch, directory) = try makeDirectory()
        defer { scratch.remove() }
        #expect(throws: StoreError.io(call: "open", errno: ENOENT, path: directory.path(of: "nope"))) {
            try directory.open("nope")
        }
        let file = try directory.create("short")
        try file.write(bytes("abc"), at: 0)
        let error = #expect(throws: StoreError.self) {
            var buffer = [UInt8](repeating: 0, count: 8)
            try buffer.withUnsafeMutableBytes { try file.readExactly(into: $0, at: 0) }
        }
        #expect(error == .corrupted(file: directory.path(of: "short"), offset: 3, reason: "file ends after 3 of 8 expected bytes"))
    }

    @Test("destroy removes a scratch directory and its files")
    func destroy() throws {
        let (scratch, directory) = try makeDirectory()
        defer { scratch.remove() }
        try directory.writeAtomically("a", contents: [1])
        try directory.writeAtomically("b", contents: [2])
        try StorageDirectory.destroy(directory.path, fileSystem: PosixFileSystem())
        #expect(try directory.status(of: ".") == nil)
        try StorageDirectory.destroy(directory.path, fileSystem: PosixFileSystem())
    }
}

@Suite("Locked store directories")
struct LockedDirectoryTests {
    @Test("a second open fails as locked and names this process; release lets it in")
    func exclusion() throws {
        let scratch = try ScratchDirectory("lock")
        let path = scratch.child("store")
        let first = try LockedDirectory.open(path: path, engine: "test", formatVersion: 1, options: StoreOptions(), metrics: StoreMetrics())
        #expect(first.isNew)
        #expect(throws: StoreError.locked(path: path, holder: String(getpid()))) {
            try LockedDirectory.open(path: path, engine: "test", formatVersion: 1, options: StoreOptions(), metrics: StoreMetrics())
        }
        first.release()
        let second = try LockedDirectory.open(path: path, engine: "test", formatVersion: 1, options: StoreOptions(), metrics: StoreMetrics())
        #expect(!second.isNew)
        #expect(second.identity == StoreIdentity(engine: "test", formatVersion: 1))
        second.release()
        #expect(throws: StoreError.wrongEngine(path: path, found: "test", expected: "other")) {
            try LockedDirectory.open(path: path, engine: "other", formatVersion: 1, options: StoreOptions(), metrics: StoreMetrics())
        }
        #expect(throws: StoreError.self) {
            try LockedDirectory.open(path: path, engine: "test", formatVersion: 0, options: StoreOptions(), metrics: StoreMetrics())
        }
    }

    @Test("a damaged identity file is reported as corruption of that file")
    func damagedIdentity() throws {
        let scratch = try ScratchDirectory("identity")
        let path = scratch.child("store")
        try LockedDirectory.open(path: path, engine: "test", formatVersion: 1, options: StoreOptions(), metrics: StoreMetrics()).release()
        let directory = StorageDirectory(path: path, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
        try directory.writeAtomically(StoreIdentity.fileName, contents: bytes("garbage\n"))
        #expect(throws: StoreError.corrupted(file: directory.path(of: StoreIdentity.fileName), offset: 0, reason: "first line is not `storebench store`")) {
            try LockedDirectory.open(path: path, engine: "test", formatVersion: 1, options: StoreOptions(), metrics: StoreMetrics())
        }
    }
}

@Suite("Metrics")
struct StoreMetricsTests {
    @Test("events recorded from many threads are all kept; measure times the work")
    func concurrentEvents() throws {
        let metrics = StoreMetrics()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<250 {
                metrics.record(MaintenanceEvent(kind: "t\(thread)", startNanos: UInt64(index), durationNanos: 1, bytesRead: 1, bytesWritten: 2, blockedWriters: false))
                metrics.addUserBytes(3)
            }
        }
        #expect(metrics.events().count == 2000)
        #expect(metrics.snapshot().userBytesWritten == 6000)
        #expect(metrics.events(from: 1990).count == 10)
        let value = metrics.measure("compaction", blockingWriters: true) { () -> (result: Int, bytesRead: Int, bytesWritten: Int, detail: String) in
            usleep(20_000)
            return (42, 10, 20, "test")
        }
        #expect(value == 42)
        let event = try #require(metrics.events().last)
        #expect(event.kind == "compaction" && event.blockedWriters && event.bytesWritten == 20)
        #expect(event.durationNanos >= 20_000_000)

        // Time that belongs to an event of its own (a flush inside a compaction) is left out.
        let before = MonotonicClock.now()
        metrics.measure("compaction", blockingWriters: false, excludingNanos: { 15_000_000 }) { () -> (result: Void, bytesRead: Int, bytesWritten: Int, detail: String) in
            usleep(20_000)
            return ((), 0, 0, "")
        }
        let span = MonotonicClock.now() - before
        let shortened = try #require(metrics.events().last)
        #expect(shortened.durationNanos >= 5_000_000 && shortened.durationNanos <= span - 15_000_000)
    }

    @Test("write amplification is file bytes per user byte")
    func writeAmplification() {
        let snapshot = StoreMetrics.Snapshot(userBytesWritten: 100, fileBytesWritten: 250, fileBytesRead: 0, syncs: 0, filesCreated: 0, filesRemoved: 0, renames: 0, eventCount: 0)
        #expect(snapshot.writeAmplification == 2.5)
        #expect(StoreMetrics().snapshot().writeAmplification == nil)
    }

    @Test("a batch counts its user bytes and validates every entry")
    func writeBatch() {
        var batch = WriteBatch()
        batch.put([1, 2], [3, 4, 5])
        batch.delete([6])
        #expect(batch.userBytes == 6)
        #expect(batch.count == 2)
        batch.put([UInt8](repeating: 0, count: StoreLimits.maxKeySize + 1), [])
        #expect(throws: StoreError.self) { try batch.validate() }
        batch.removeAll()
        #expect(batch.isEmpty && batch.userBytes == 0)
    }
}

@Suite("FileWindow and AtomicFileWriter")
struct FileWindowTests {
    @Test("a window smaller than the reads grows and keeps the bytes it already has")
    func growingWindow() throws {
        let scratch = try ScratchDirectory("window")
        let path = scratch.child("data")
        let writer = try AtomicFileWriter(path: path)
        var random = SeededRandom(seed: 8)
        let content = random.bytes(10_000)
        try writer.write(Array(content[..<4000]))
        #expect(!FileManager.default.fileExists(atPath: path), "invisible until finished")
        try writer.write(Array(content[4000...]))
        try writer.finish()
        #expect(FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: path + ".tmp"))
        let file = try StorageDirectory.openFile(path, fileSystem: PosixFileSystem())
        var window = FileWindow(file: file, size: try file.size(), capacity: 16)
        var offset: Int64 = 0
        var step = 1
        while offset < 10_000 {
            let count = min(step, 10_000 - Int(offset))
            // Load a little first, so the bigger request must keep it and grow.
            #expect(try window.ensure(offset, 1))
            #expect(try window.ensure(offset, count))
            window.withBytes(offset, count) { #expect(Array($0) == Array(content[Int(offset)..<(Int(offset) + count)])) }
            offset += Int64(count)
            step = step * 3 + 1
        }
        #expect(try !window.ensure(9_990, 11), "past the end")
        // A file window goes back as well as forward.
        #expect(try window.ensure(100, 50))
        window.withBytes(100, 50) { #expect(Array($0) == Array(content[100..<150])) }
    }

    /// A source handing out a fixed byte array a few bytes per read, front to back only.
    struct TrickleStream: WindowSource {
        let bytes: [UInt8]
        var knownSize: Int64? { nil }
        var isPositional: Bool { false }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(StoreError) -> Int {
            let count = min(buffer.count, 7, bytes.count - Int(offset))
            guard count > 0 else { return 0 }
            buffer.copyBytes(from: bytes[Int(offset)..<(Int(offset) + count)])
            return count
        }
    }

    @Test("a stream window skips forward, grows for a record larger than its buffer, and knows the end")
    func streamWindow() throws {
        var random = SeededRandom(seed: 9)
        let content = random.bytes(5_000)
        var window = ByteWindow(source: TrickleStream(bytes: content), capacity: 64)
        #expect(try window.ensure(10, 20))
        window.withBytes(10, 20) { #expect(Array($0) == Array(content[10..<30])) }
        // Past what the buffer holds: read and dropped on the way.
        #expect(try window.ensure(1_000, 500), "grown to a 500-byte record")
        window.withBytes(1_000, 500) { #expect(Array($0) == Array(content[1_000..<1_500])) }
        #expect(try !window.ensure(4_990, 11) && window.ended, "past the end")
        #expect(try !window.isEnd(at: 4_999) && window.isEnd(at: 5_000))
    }

    @Test("onlyZeros is true only when every byte to the end is zero")
    func onlyZeros() throws {
        let scratch = try ScratchDirectory("zeros")
        let path = scratch.child("data")
        var bytes = [UInt8](repeating: 0, count: 200_000)
        bytes[10] = 1
        bytes[150_000] = 2
        let writer = try AtomicFileWriter(path: path)
        try writer.write(bytes)
        try writer.finish()
        let file = try StorageDirectory.openFile(path, fileSystem: PosixFileSystem())
        var window = FileWindow(file: file, size: try file.size(), capacity: 4096)
        #expect(try !window.onlyZeros(from: 0) && !window.onlyZeros(from: 11) && !window.onlyZeros(from: 150_000))
        #expect(try window.onlyZeros(from: 150_001) && window.onlyZeros(from: 200_000))
    }

    @Test("an abandoned writer leaves nothing behind")
    func abandoned() throws {
        let scratch = try ScratchDirectory("abandon")
        let writer = try AtomicFileWriter(path: scratch.child("x"))
        try writer.write([1, 2, 3])
        writer.abandon()
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }
}
