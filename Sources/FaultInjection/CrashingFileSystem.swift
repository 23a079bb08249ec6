#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Synchronization

/// A file system that "crashes" after a chosen number of mutating calls (write, sync, truncate,
/// create, rename, unlink, mkdir, directory sync): that call and every later mutating call fail
/// with `EIO`, so nothing the engine does after the crash point reaches the files, exactly as if
/// the process had died there. Reads keep working. Counting without a crash point tells a test how
/// many mutating calls an operation makes.
public final class CrashingFileSystem: InterposingFileSystem {
    public let lower: any FileSystem = PosixFileSystem()
    private struct State {
        var mutatingCalls = 0
        var crashAfter: Int?
        var log: [String] = []
    }
    private let state = Protected(State())

    public init() {}

    /// Crash once `count` more mutating calls have gone through (nil: never).
    public func arm(crashAfter count: Int?) {
        state.withLock { state in
            state.crashAfter = count.map { state.mutatingCalls + $0 }
        }
    }

    /// Mutating calls made so far.
    public var mutatingCalls: Int { state.withLock { $0.mutatingCalls } }
    /// Mutating calls made so far, as `call name`.
    public var log: [String] { state.withLock { $0.log } }
    public var hasCrashed: Bool {
        state.withLock { state in state.crashAfter.map { state.mutatingCalls > $0 } ?? false }
    }

    private func mutate(_ call: String, _ path: String) throws(SystemCallError) {
        let crashed = state.withLock { state -> Bool in
            state.mutatingCalls += 1
            state.log.append("\(call) \(path.split(separator: "/").last.map(String.init) ?? path)")
            return state.crashAfter.map { state.mutatingCalls > $0 } ?? false
        }
        if crashed { throw SystemCallError(call, EIO) }
    }

    private let paths = Protected<[Int32: String]>([:])
    private func path(_ fd: Int32) -> String { paths.withLock { $0[fd] ?? "fd \(fd)" } }

    public func open(_ path: String, mode: FileOpenMode) throws(SystemCallError) -> Int32 {
        if mode == .createExclusive || mode == .createOrOpen, try lower.stat(path) == nil {
            try mutate("create", path)
        }
        let fd = try lower.open(path, mode: mode)
        paths.withLock { $0[fd] = path }
        return fd
    }

    public func close(_ fd: Int32) {
        paths.withLock { _ = $0.removeValue(forKey: fd) }
        lower.close(fd)
    }

    public func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try mutate("pwrite", path(fd))
        return try lower.pwrite(fd, from: buffer, at: offset)
    }

    public func fsync(_ fd: Int32) throws(SystemCallError) {
        try mutate("fsync", path(fd))
        try lower.fsync(fd)
    }

    public func fdatasync(_ fd: Int32) throws(SystemCallError) {
        try mutate("fdatasync", path(fd))
        try lower.fdatasync(fd)
    }

    public func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError) {
        try mutate("ftruncate", path(fd))
        try lower.ftruncate(fd, to: length)
    }

    public func rename(_ from: String, to: String) throws(SystemCallError) {
        try mutate("rename", from)
        try lower.rename(from, to: to)
    }

    public func unlink(_ path: String) throws(SystemCallError) {
        try mutate("unlink", path)
        try lower.unlink(path)
    }

    public func mkdir(_ path: String) throws(SystemCallError) {
        try mutate("mkdir", path)
        try lower.mkdir(path)
    }

    public func rmdir(_ path: String) throws(SystemCallError) {
        try mutate("rmdir", path)
        try lower.rmdir(path)
    }

    public func syncDirectory(_ path: String) throws(SystemCallError) {
        try mutate("syncDirectory", path)
        try lower.syncDirectory(path)
    }
}
