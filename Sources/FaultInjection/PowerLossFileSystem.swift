#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Synchronization

/// A file system that can simulate a power loss in one store directory: `powerLoss()` rewrites
/// the directory to what stable storage would hold — file contents as of each file's last
/// `fsync`/`fdatasync` (nothing, for a file never synced), and only the directory entries as of
/// the directory's last fsync (a create, rename or unlink not covered by one is undone). After
/// it, every call fails with EIO, so a store still running cannot touch the result.
///
/// Files are tracked by identity (an inode-like id), so a rename moves the identity and its
/// synced contents to the new name.
public final class PowerLossFileSystem: FileSystem {
    private let real = PosixFileSystem()
    public let directory: String

    private struct State {
        var nextId = 1
        /// Names in the directory now → file id.
        var names: [String: Int] = [:]
        /// Names as of the last directory fsync.
        var durableNames: [String: Int] = [:]
        /// Contents of each file id as of its last fsync.
        var durableData: [Int: [UInt8]] = [:]
        /// Open descriptors in the directory → file id.
        var descriptors: [Int32: Int] = [:]
        var dead = false
        var syncs = 0
        /// Mutating calls so far, and the one at which the power goes (nil: only `powerLoss()`).
        var mutatingCalls = 0
        var failAt: Int?
    }

    private let state = Protected(State())

    /// Takes the directory as it is now (if it exists) as durable.
    public init(directory: String) throws {
        self.directory = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let existing = (try? real.listDirectory(self.directory)) ?? []
        var initial = State()
        for name in existing {
            let id = initial.nextId
            initial.nextId += 1
            initial.names[name] = id
            initial.durableNames[name] = id
            initial.durableData[id] = try Self.contents(of: self.directory + "/" + name)
        }
        state.withLock { $0 = initial }
    }

    /// fsync and fdatasync calls seen.
    public var syncs: Int { state.withLock { $0.syncs } }
    /// Mutating calls seen (writes, syncs, truncates, renames, unlinks).
    public var mutatingCalls: Int { state.withLock { $0.mutatingCalls } }
    /// Whether the power is off.
    public var isDead: Bool { state.withLock { $0.dead } }

    /// The power goes out just before the `count`-th mutating call from now: that call and every
    /// later one fail with EIO.
    public func arm(powerLossAt count: Int) {
        state.withLock { $0.failAt = $0.mutatingCalls + count }
    }

    private static func contents(of path: String) throws -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { Glibc.close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            result.append(contentsOf: buffer[0..<count])
        }
        return result
    }

    /// The name inside the watched directory, or nil for paths elsewhere.
    private func name(_ path: String) -> String? {
        guard path.hasPrefix(directory + "/") else { return nil }
        let name = String(path.dropFirst(directory.count + 1))
        return name.contains("/") ? nil : name
    }

    private func checkAlive(_ call: String) throws(SystemCallError) {
        if state.withLock({ $0.dead }) { throw SystemCallError(call, EIO) }
    }

    /// Counts a mutating call (holding the state lock); the armed one cuts the power instead.
    private func count(_ state: inout State, _ call: String) throws(SystemCallError) {
        if state.dead { throw SystemCallError(call, EIO) }
        state.mutatingCalls += 1
        if state.failAt == state.mutatingCalls {
            state.dead = true
            try? rewrite(state)
            throw SystemCallError(call, EIO)
        }
    }

    private func mutating(_ call: String) throws(SystemCallError) {
        try state.withLock { state throws(SystemCallError) in
            try count(&state, call)
        }
    }

    /// Rewrites the directory to its durable state and fails every later call. The rewrite
    /// happens under the state lock, so no thread sees the power off before the directory shows it.
    public func powerLoss() throws {
        try state.withLock { state in
            guard !state.dead else { return }
            state.dead = true
            try rewrite(state)
        }
    }

    private func rewrite(_ snapshot: State) throws {
        for name in (try? real.listDirectory(directory)) ?? [] {
            _ = Glibc.unlink(directory + "/" + name)
        }
        for (name, id) in snapshot.durableNames {
            let bytes = snapshot.durableData[id] ?? []
            let fd = Glibc.open(directory + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw SystemCallError("open", errno) }
            _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            Glibc.close(fd)
        }
    }

    public func open(_ path: String, mode: FileOpenMode) throws(SystemCallError) -> Int32 {
        try checkAlive("open")
        let existed = try real.stat(path) != nil
        let fd = try real.open(path, mode: mode)
        if let name = name(path) {
            state.withLock { state in
                if !existed || state.names[name] == nil {
                    state.names[name] = state.nextId
                    state.nextId += 1
                }
                state.descriptors[fd] = state.names[name]
            }
        }
        return fd
    }

    public func close(_ fd: Int32) {
        state.withLock { _ = $0.descriptors.removeValue(forKey: fd) }
        real.close(fd)
    }

    public func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try checkAlive("pread")
        return try real.pread(fd, into: buffer, at: offset)
    }

    public func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try mutating("pwrite")
        return try real.pwrite(fd, from: buffer, at: offset)
    }

    /// A sync: the real call and the record of what it made durable happen under the state lock,
    /// so a power cut on another thread falls either before it (the sync fails) or after it (the
    /// synced bytes survive) — never in between.
    private func sync(_ fd: Int32, _ call: String, _ body: (Int32) throws(SystemCallError) -> Void) throws(SystemCallError) {
        try state.withLock { state throws(SystemCallError) in
            try count(&state, call)
            try body(fd)
            var bytes: [UInt8] = []
            if let status = try? real.fstat(fd), status.size > 0 {
                bytes = [UInt8](repeating: 0, count: Int(status.size))
                _ = bytes.withUnsafeMutableBytes { try? real.pread(fd, into: $0, at: 0) }
            }
            state.syncs += 1
            if let id = state.descriptors[fd] { state.durableData[id] = bytes }
        }
    }

    public func fsync(_ fd: Int32) throws(SystemCallError) {
        try sync(fd, "fsync") { fd throws(SystemCallError) in try real.fsync(fd) }
    }

    public func fdatasync(_ fd: Int32) throws(SystemCallError) {
        try sync(fd, "fdatasync") { fd throws(SystemCallError) in try real.fdatasync(fd) }
    }

    public func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError) {
        try mutating("ftruncate")
        try real.ftruncate(fd, to: length)
    }

    public func fstat(_ fd: Int32) throws(SystemCallError) -> FileStatus { try real.fstat(fd) }
    public func stat(_ path: String) throws(SystemCallError) -> FileStatus? { try real.stat(path) }
    public func lockExclusive(_ fd: Int32) throws(SystemCallError) -> Bool { try real.lockExclusive(fd) }

    public func rename(_ from: String, to: String) throws(SystemCallError) {
        try mutating("rename")
        try real.rename(from, to: to)
        if let source = name(from), let target = name(to) {
            state.withLock { state in
                if let id = state.names.removeValue(forKey: source) { state.names[target] = id }
            }
        }
    }

    public func unlink(_ path: String) throws(SystemCallError) {
        try mutating("unlink")
        try real.unlink(path)
        if let name = name(path) { state.withLock { _ = $0.names.removeValue(forKey: name) } }
    }

    public func mkdir(_ path: String) throws(SystemCallError) {
        try checkAlive("mkdir")
        try real.mkdir(path)
    }

    public func rmdir(_ path: String) throws(SystemCallError) {
        try checkAlive("rmdir")
        try real.rmdir(path)
    }

    public func listDirectory(_ path: String) throws(SystemCallError) -> [String] { try real.listDirectory(path) }
    public func dropCachedPages(_ fd: Int32) throws(SystemCallError) { try real.dropCachedPages(fd) }

    public func syncDirectory(_ path: String) throws(SystemCallError) {
        try state.withLock { state throws(SystemCallError) in
            try count(&state, "fsync")
            try real.syncDirectory(path)
            if path == directory || path == directory + "/" { state.durableNames = state.names }
        }
    }
}
