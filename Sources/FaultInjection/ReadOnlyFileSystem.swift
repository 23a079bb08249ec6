#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// A file system mounted read-only, as Linux behaves: reading works, and every call that would
/// change something — opening for writing, creating, writing, truncating, renaming, removing,
/// making directories — fails with `EROFS`. Lets a test check how engines meet a read-only store
/// directory whatever the user running it (root ignores permission bits, and may not mount).
public struct ReadOnlyFileSystem: InterposingFileSystem {
    public let lower: any FileSystem

    public init(over lower: any FileSystem = PosixFileSystem()) {
        self.lower = lower
    }

    public func open(_ path: String, mode: FileOpenMode) throws(SystemCallError) -> Int32 {
        guard mode == .readOnly else { throw SystemCallError("open", EROFS) }
        return try lower.open(path, mode: mode)
    }
    public func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        throw SystemCallError("pwrite", EBADF)
    }
    public func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError) { throw SystemCallError("ftruncate", EROFS) }
    public func rename(_ from: String, to: String) throws(SystemCallError) { throw SystemCallError("rename", EROFS) }
    public func unlink(_ path: String) throws(SystemCallError) { throw SystemCallError("unlink", EROFS) }
    public func mkdir(_ path: String) throws(SystemCallError) {
        // An existing directory is reported as existing first, as mkdir(2) does.
        if (try? lower.stat(path)) != nil { throw SystemCallError("mkdir", EEXIST) }
        throw SystemCallError("mkdir", EROFS)
    }
    public func rmdir(_ path: String) throws(SystemCallError) { throw SystemCallError("rmdir", EROFS) }
}
