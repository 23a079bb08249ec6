/// A file system layered over another: every call goes through to `lower` unless the layer
/// implements it itself.
///
/// The fault-injecting file systems (crash points, power loss, I/O errors, layers that lie about
/// durability) each intercept a few calls; this base forwards the rest, so a call added to
/// `FileSystem` reaches every layer in one place instead of being copied into each.
public protocol InterposingFileSystem: FileSystem {
    /// The file system calls go through to.
    var lower: any FileSystem { get }
}

extension InterposingFileSystem {
    public func open(_ path: String, mode: FileOpenMode) throws(SystemCallError) -> Int32 { try lower.open(path, mode: mode) }
    public func close(_ fd: Int32) { lower.close(fd) }
    public func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try lower.pread(fd, into: buffer, at: offset)
    }
    public func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try lower.pwrite(fd, from: buffer, at: offset)
    }
    public func fsync(_ fd: Int32) throws(SystemCallError) { try lower.fsync(fd) }
    public func fdatasync(_ fd: Int32) throws(SystemCallError) { try lower.fdatasync(fd) }
    public func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError) { try lower.ftruncate(fd, to: length) }
    public func fstat(_ fd: Int32) throws(SystemCallError) -> FileStatus { try lower.fstat(fd) }
    public func stat(_ path: String) throws(SystemCallError) -> FileStatus? { try lower.stat(path) }
    public func lockExclusive(_ fd: Int32) throws(SystemCallError) -> Bool { try lower.lockExclusive(fd) }
    public func rename(_ from: String, to: String) throws(SystemCallError) { try lower.rename(from, to: to) }
    public func unlink(_ path: String) throws(SystemCallError) { try lower.unlink(path) }
    public func mkdir(_ path: String) throws(SystemCallError) { try lower.mkdir(path) }
    public func rmdir(_ path: String) throws(SystemCallError) { try lower.rmdir(path) }
    public func listDirectory(_ path: String) throws(SystemCallError) -> [String] { try lower.listDirectory(path) }
    public func dropCachedPages(_ fd: Int32) throws(SystemCallError) { try lower.dropCachedPages(fd) }
    public func adviseRandomAccess(_ fd: Int32) { lower.adviseRandomAccess(fd) }
    public func syncDirectory(_ path: String) throws(SystemCallError) { try lower.syncDirectory(path) }
}
