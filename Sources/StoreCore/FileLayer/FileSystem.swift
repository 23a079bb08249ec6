#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: which call and its `errno`. The durable file layer adds the path.
public struct SystemCallError: Error, Sendable, Equatable {
    public var call: String
    public var errno: Int32

    public init(_ call: String, _ errno: Int32) {
        self.call = call
        self.errno = errno
    }
}

/// What `stat` reports about a file.
public struct FileStatus: Sendable, Equatable {
    public var size: Int64
    /// Bytes allocated on the device (`st_blocks × 512`).
    public var allocatedBytes: Int64
    public var isDirectory: Bool

    public init(size: Int64, allocatedBytes: Int64, isDirectory: Bool) {
        self.size = size
        self.allocatedBytes = allocatedBytes
        self.isDirectory = isDirectory
    }
}

/// How a file is opened.
public enum FileOpenMode: Sendable, Equatable {
    case readOnly
    case readWrite
    /// Create a new file; fails with `EEXIST` when it exists.
    case createExclusive
    /// Open read-write, creating the file when missing.
    case createOrOpen
}

/// The raw system calls storebench makes on files and directories: one thin wrapper per call, so
/// that tests can put a fault-injecting implementation (fail the Nth write, drop unsynced bytes)
/// in place of `PosixFileSystem` without any engine noticing.
///
/// Engines do not call this protocol directly; they use `StorageDirectory` and `DurableFile`, which
/// add paths to errors, count bytes and syncs, and fsync directories after entries change.
public protocol FileSystem: Sendable {
    /// The corresponding C function is `open(2)`. Returns the descriptor.
    func open(_ path: String, mode: FileOpenMode) throws(SystemCallError) -> Int32
    /// The corresponding C function is `close(2)`.
    func close(_ fd: Int32)
    /// The corresponding C function is `pread(2)`. Returns the bytes read (0 at end of file).
    func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int
    /// The corresponding C function is `pwrite(2)`. Returns the bytes written.
    func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int
    /// The corresponding C function is `fsync(2)`.
    func fsync(_ fd: Int32) throws(SystemCallError)
    /// The corresponding C function is `fdatasync(2)`.
    func fdatasync(_ fd: Int32) throws(SystemCallError)
    /// The corresponding C function is `ftruncate(2)`.
    func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError)
    /// The corresponding C function is `fstat(2)`.
    func fstat(_ fd: Int32) throws(SystemCallError) -> FileStatus
    /// The corresponding C function is `stat(2)`; `nil` when the path does not exist.
    func stat(_ path: String) throws(SystemCallError) -> FileStatus?
    /// The corresponding C function is `flock(2)` with `LOCK_EX | LOCK_NB`. Returns `false` when
    /// another open file description holds the lock.
    func lockExclusive(_ fd: Int32) throws(SystemCallError) -> Bool
    /// The corresponding C function is `rename(2)`.
    func rename(_ from: String, to: String) throws(SystemCallError)
    /// The corresponding C function is `unlink(2)`.
    func unlink(_ path: String) throws(SystemCallError)
    /// The corresponding C function is `mkdir(2)`.
    func mkdir(_ path: String) throws(SystemCallError)
    /// The corresponding C function is `rmdir(2)`.
    func rmdir(_ path: String) throws(SystemCallError)
    /// Names in a directory, without `.` and `..`. The corresponding C functions are
    /// `opendir(3)`/`readdir(3)`.
    func listDirectory(_ path: String) throws(SystemCallError) -> [String]
    /// Asks the kernel to drop the file's clean cached pages, so the next reads come from the
    /// device. The corresponding C function is `posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`.
    func dropCachedPages(_ fd: Int32) throws(SystemCallError)
    /// Tells the kernel the file is read and written at random places: no readahead, so the page
    /// cache keeps small pages. Advisory (errors are ignored). The corresponding C function is
    /// `posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM)`.
    func adviseRandomAccess(_ fd: Int32)
    /// Opens a directory and fsyncs it, so that entries created, renamed or removed in it survive
    /// a power loss.
    func syncDirectory(_ path: String) throws(SystemCallError)
}

extension FileSystem {
    /// Only advice: every file system here hands out real descriptors, so they share this one.
    public func adviseRandomAccess(_ fd: Int32) {
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_RANDOM))
    }
}
