import StoreCore
import Synchronization

/// A file system that fails one chosen system call once: the `nth` call named `call` (`pwrite`,
/// `fdatasync`, `fsync`, `ftruncate`, `rename`, `unlink`) returns `errno` without doing anything; every other
/// call goes through. It checks that a store reports the error, loses nothing acknowledged, and
/// opens afterwards.
public final class FaultyFileSystem: InterposingFileSystem {
    public let lower: any FileSystem = PosixFileSystem()
    public let call: String
    public let nth: Int
    public let errno: Int32
    private let seen = Protected(0)

    public init(failing call: String, nth: Int, errno: Int32) {
        self.call = call
        self.nth = nth
        self.errno = errno
    }

    /// Calls named `call` seen so far (with `nth: .max`, how often an engine makes the call).
    public var calls: Int { seen.withLock { $0 } }

    /// Whether the failure has happened.
    public var fired: Bool { seen.withLock { $0 >= nth } }

    private func maybeFail(_ name: String) throws(SystemCallError) {
        guard name == call else { return }
        let count = seen.withLock { count -> Int in
            count += 1
            return count
        }
        if count == nth { throw SystemCallError(name, errno) }
    }

    public func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try maybeFail("pwrite")
        return try lower.pwrite(fd, from: buffer, at: offset)
    }
    public func fsync(_ fd: Int32) throws(SystemCallError) {
        try maybeFail("fsync")
        try lower.fsync(fd)
    }
    public func fdatasync(_ fd: Int32) throws(SystemCallError) {
        try maybeFail("fdatasync")
        try lower.fdatasync(fd)
    }
    public func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError) {
        try maybeFail("ftruncate")
        try lower.ftruncate(fd, to: length)
    }
    public func rename(_ from: String, to: String) throws(SystemCallError) {
        try maybeFail("rename")
        try lower.rename(from, to: to)
    }
    public func unlink(_ path: String) throws(SystemCallError) {
        try maybeFail("unlink")
        try lower.unlink(path)
    }
    public func syncDirectory(_ path: String) throws(SystemCallError) {
        try maybeFail("fsync")
        try lower.syncDirectory(path)
    }
}
