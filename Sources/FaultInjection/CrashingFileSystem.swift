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
public final class CrashingFileSystem: FileSystem {
    private let real = PosixFileSystem()
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
        if mode == .createExclusive || mode == .createOrOpen, try real.stat(path) == nil {
            try mutate("create", path)
        }
        let fd = try real.open(path, mode: mode)
        paths.withLock { $0[fd] = path }
        return fd
    }

    public func close(_ fd: Int32) {
        paths.withLock { _ = $0.removeValue(forKey: fd) }
        real.close(fd)
    }

    public func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try real.pread(fd, into: buffer, at: offset)
    }

    public func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try mutate("pwrite", path(fd))
        return try real.pwrite(fd, from: buffer, at: offset)
    }

    public func fsync(_ fd: Int32) throws(SystemCallError) {
        try mutate("fsync", path(fd))
        try real.fsync(fd)
    }

    public func fdatasync(_ fd: Int32) throws(SystemCallError) {
        try mutate("fdatasync", path(fd))
        try real.fdatasync(fd)
    }

    public func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError) {
        try mutate("ftruncate", path(fd))
        try real.ftruncate(fd, to: length)
    }

    public func fstat(_ fd: Int32) throws(SystemCallError) -> FileStatus { try real.fstat(fd) }
    public func stat(_ path: String) throws(SystemCallError) -> FileStatus? { try real.stat(path) }
    public func lockExclusive(_ fd: Int32) throws(SystemCallError) -> Bool { try real.lockExclusive(fd) }

    public func rename(_ from: String, to: String) throws(SystemCallError) {
        try mutate("rename", from)
        try real.rename(from, to: to)
    }

    public func unlink(_ path: String) throws(SystemCallError) {
        try mutate("unlink", path)
        try real.unlink(path)
    }

    public func mkdir(_ path: String) throws(SystemCallError) {
        try mutate("mkdir", path)
        try real.mkdir(path)
    }

    public func rmdir(_ path: String) throws(SystemCallError) {
        try mutate("rmdir", path)
        try real.rmdir(path)
    }

    public func listDirectory(_ path: String) throws(SystemCallError) -> [String] { try real.listDirectory(path) }
    public func dropCachedPages(_ fd: Int32) throws(SystemCallError) { try real.dropCachedPages(fd) }

    public func syncDirectory(_ path: String) throws(SystemCallError) {
        try mutate("syncDirectory", path)
        try real.syncDirectory(path)
    }
}
