#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real file system: each method is one system call, retried on `EINTR`.
public struct PosixFileSystem: FileSystem {
    public init() {}

    public func open(_ path: String, mode: FileOpenMode) throws(SystemCallError) -> Int32 {
        let flags: Int32
        switch mode {
        case .readOnly: flags = O_RDONLY
        case .readWrite: flags = O_RDWR
        case .createExclusive: flags = O_RDWR | O_CREAT | O_EXCL
        case .createOrOpen: flags = O_RDWR | O_CREAT
        }
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, 0o644)
            if fd >= 0 { return fd }
            if errno != EINTR { throw SystemCallError("open", errno) }
        }
    }

    public func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    public func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        while true {
            let count = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if count >= 0 { return count }
            if errno != EINTR { throw SystemCallError("pread", errno) }
        }
    }

    public func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        while true {
            let count = Glibc.pwrite(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if count >= 0 { return count }
            if errno != EINTR { throw SystemCallError("pwrite", errno) }
        }
    }

    public func fsync(_ fd: Int32) throws(SystemCallError) {
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw SystemCallError("fsync", errno) }
        }
    }

    public func fdatasync(_ fd: Int32) throws(SystemCallError) {
        while Glibc.fdatasync(fd) != 0 {
            if errno != EINTR { throw SystemCallError("fdatasync", errno) }
        }
    }

    public func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError) {
        while Glibc.ftruncate(fd, off_t(length)) != 0 {
            if errno != EINTR { throw SystemCallError("ftruncate", errno) }
        }
    }

    public func fstat(_ fd: Int32) throws(SystemCallError) -> FileStatus {
        var info = StatBuffer()
        guard systemFstat(fd, &info) == 0 else { throw SystemCallError("fstat", errno) }
        return Self.status(info)
    }

    public func stat(_ path: String) throws(SystemCallError) -> FileStatus? {
        var info = StatBuffer()
        guard systemStat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw SystemCallError("stat", errno)
        }
        return Self.status(info)
    }

    public func lockExclusive(_ fd: Int32) throws(SystemCallError) -> Bool {
        while systemFlock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EWOULDBLOCK { return false }
            if errno != EINTR { throw SystemCallError("flock", errno) }
        }
        return true
    }

    public func rename(_ from: String, to: String) throws(SystemCallError) {
        guard Glibc.rename(from, to) == 0 else { throw SystemCallError("rename", errno) }
    }

    public func unlink(_ path: String) throws(SystemCallError) {
        guard Glibc.unlink(path) == 0 else { throw SystemCallError("unlink", errno) }
    }

    public func mkdir(_ path: String) throws(SystemCallError) {
        guard Glibc.mkdir(path, 0o755) == 0 else { throw SystemCallError("mkdir", errno) }
    }

    public func rmdir(_ path: String) throws(SystemCallError) {
        guard Glibc.rmdir(path) == 0 else { throw SystemCallError("rmdir", errno) }
    }

    public func listDirectory(_ path: String) throws(SystemCallError) -> [String] {
        guard let dir = opendir(path) else { throw SystemCallError("opendir", errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func dropCachedPages(_ fd: Int32) throws(SystemCallError) {
        let result = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        if result != 0 { throw SystemCallError("posix_fadvise", result) }
    }

    public func syncDirectory(_ path: String) throws(SystemCallError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemCallError("open", errno) }
        defer { _ = Glibc.close(fd) }
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw SystemCallError("fsync", errno) }
        }
    }

    private static func status(_ info: StatBuffer) -> FileStatus {
        FileStatus(
            size: Int64(info.st_size),
            allocatedBytes: Int64(info.st_blocks) * 512,
            isDirectory: (info.st_mode & S_IFMT) == S_IFDIR)
    }
}

// `stat` and `flock` name both a struct and a function; outside the type that declares `stat(_:)` the
// compiler can tell them apart.
private typealias StatBuffer = stat

private func systemStat(_ path: String, _ buffer: UnsafeMutablePointer<StatBuffer>) -> Int32 {
    stat(path, buffer)
}

private func systemFlock(_ fd: Int32, _ operation: Int32) -> Int32 {
    flock(fd, operation)
}

private func systemFstat(_ fd: Int32, _ buffer: UnsafeMutablePointer<StatBuffer>) -> Int32 {
    fstat(fd, buffer)
}
