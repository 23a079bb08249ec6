#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Synchronization

/// A file system that can simulate a power loss in one store directory. It passes every call to
/// the real file system and records, per file (by identity, so a rename carries it along), the
/// bytes as of its last successful `fsync`/`fdatasync` and every write and truncate since; and the
/// directory's entries as of its last fsync and every create, rename and unlink since.
///
/// At a power loss (`arm(powerLossAt:)`, `powerLoss()` or `cut()`) every later call fails with
/// EIO, so a store still running cannot touch the result, and the directory can be rewritten to
/// any of several states stable storage may hold (`crashState(_:)`, `materialize(_:)`):
/// - state 0: each file as of its last sync, the entries as of the last directory sync;
/// - the others, drawn from a seed: per file, its unsynced changes all lost, all kept, or an
///   in-order prefix kept and after it writes landing per 4 KiB page out of order, a page's
///   newest kept write possibly torn (a prefix of its 512-byte sectors; a gap reads as zeros);
///   the unsynced creates, renames and unlinks none kept, all kept or each kept independently
///   (a change that cannot happen without an undone one is undone too).
///
/// I/O errors with Linux semantics can be injected: `failSync(nth:)` makes a file sync fail
/// with EIO *and* drops that file's unsynced changes from what may survive (the kernel marks the
/// pages clean, so a retried sync succeeds without writing them); `fillDisk(afterWrites:failing:)`
/// makes every write and growing truncate fail with ENOSPC from some point on until "space is
/// freed" after a number of failed calls.
///
/// No engine keeps files in subdirectories; entries below the directory are not modelled.
public final class PowerLossFileSystem: InterposingFileSystem {
    private let real = PosixFileSystem()
    public var lower: any FileSystem { real }
    public let directory: String
    /// Seed of the drawn crash states.
    public let seed: UInt64

    private struct State {
        var nextId = 1
        /// Names in the directory now → file id.
        var names: [String: Int] = [:]
        /// Names as of the last directory fsync, and the entry changes since.
        var durableNames: [String: Int] = [:]
        var entryChanges: [PendingEntryChange] = []
        var files: [Int: TrackedFile] = [:]
        /// Open descriptors in the directory → file id.
        var descriptors: [Int32: Int] = [:]
        var dead = false
        var syncs = 0
        /// Mutating calls so far, and the one at which the power goes (nil: only `powerLoss()`).
        var mutatingCalls = 0
        var failAt: Int?
        /// File syncs so far, and the one that fails.
        var fileSyncs = 0
        var failSyncAt: Int?
        var syncErrors = 0
        /// Writes so far, the one from which the disk is full, and failures left until space is freed.
        var writes = 0
        var fullFrom: Int?
        var fullFailuresLeft = 0
        var spaceErrors = 0
    }

    private let state = Protected(State())

    /// Takes the directory as it is now (if it exists) as durable.
    public init(directory: String, seed: UInt64 = 0) throws {
        self.directory = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.seed = seed
        let existing = (try? real.listDirectory(self.directory)) ?? []
        var initial = State()
        for name in existing {
            let id = initial.nextId
            initial.nextId += 1
            initial.names[name] = id
            initial.durableNames[name] = id
            initial.files[id] = TrackedFile(durable: try Self.contents(of: self.directory + "/" + name))
        }
        state.withLock { $0 = initial }
    }

    /// fsync and fdatasync calls seen.
    public var syncs: Int { state.withLock { $0.syncs } }
    /// Mutating calls seen (writes, syncs, truncates, renames, unlinks).
    public var mutatingCalls: Int { state.withLock { $0.mutatingCalls } }
    /// File syncs seen (fsync and fdatasync of files).
    public var fileSyncs: Int { state.withLock { $0.fileSyncs } }
    /// Writes seen.
    public var writes: Int { state.withLock { $0.writes } }
    /// Whether the power is off.
    public var isDead: Bool { state.withLock { $0.dead } }
    /// Injected sync failures and ENOSPC failures so far.
    public var syncErrors: Int { state.withLock { $0.syncErrors } }
    public var spaceErrors: Int { state.withLock { $0.spaceErrors } }

    /// The power goes out just before the `count`-th mutating call from now: that call and every
    /// later one fail with EIO, and the directory is rewritten to state 0.
    public func arm(powerLossAt count: Int) {
        state.withLock { $0.failAt = $0.mutatingCalls + count }
    }

    /// The `nth` file sync from now fails with EIO, and the file's unsynced changes are dropped
    /// from what may survive (a later sync succeeds without them).
    public func failSync(nth: Int) {
        state.withLock { $0.failSyncAt = $0.fileSyncs + nth }
    }

    /// From the `nth` write from now on, writes and growing truncates fail with ENOSPC, until
    /// `failing` of them have failed (then space is freed).
    public func fillDisk(afterWrites nth: Int, failing: Int) {
        state.withLock { state in
            state.fullFrom = state.writes + nth
            state.fullFailuresLeft = failing
        }
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
            try? write(Self.draw(state, index: 0, seed: seed))
            throw SystemCallError(call, EIO)
        }
    }

    /// Counts a write (holding the state lock) and fails it while the disk is full.
    private func countWrite(_ state: inout State, _ call: String) throws(SystemCallError) {
        state.writes += 1
        guard let from = state.fullFrom, state.writes >= from, state.fullFailuresLeft > 0 else { return }
        state.fullFailuresLeft -= 1
        state.spaceErrors += 1
        throw SystemCallError(call, ENOSPC)
    }

    /// Cuts the power and rewrites the directory to state 0 (each file as of its last sync, the
    /// entries as of the last directory sync). The rewrite happens under the state lock, so no
    /// thread sees the power off before the directory shows it.
    public func powerLoss() throws {
        try state.withLock { state in
            guard !state.dead else { return }
            state.dead = true
            try write(Self.draw(state, index: 0, seed: seed))
        }
    }

    /// Cuts the power without touching the directory (every later call fails with EIO); then
    /// `materialize` one state after another.
    public func cut() {
        state.withLock { $0.dead = true }
    }

    /// Crash state `index` (0: synced only; the others drawn from `seed` and `index`).
    public func crashState(_ index: Int) -> CrashState {
        state.withLock { Self.draw($0, index: index, seed: seed) }
    }

    /// Rewrites the directory to `crashState` (only once the power is off).
    public func materialize(_ crashState: CrashState) throws {
        try state.withLock { state in
            precondition(state.dead, "materialize a crash state only after the power is off")
            try write(crashState)
        }
    }

    private static func draw(_ state: State, index: Int, seed: UInt64) -> CrashState {
        CrashStateDrawing.state(index: index, seed: seed, names: state.durableNames, entryChanges: state.entryChanges, files: state.files)
    }

    private func write(_ crashState: CrashState) throws {
        _ = Glibc.mkdir(directory, 0o755)
        for name in (try? real.listDirectory(directory)) ?? [] {
            _ = Glibc.unlink(directory + "/" + name)
        }
        for (name, bytes) in crashState.files {
            let fd = Glibc.open(directory + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw SystemCallError("open", errno) }
            _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            Glibc.close(fd)
        }
    }

    public func open(_ path: String, mode: FileOpenMode) throws(SystemCallError) -> Int32 {
        try checkAlive("open")
        let existed = try real.stat(path) != nil
        if name(path) != nil, !existed, mode == .createExclusive || mode == .createOrOpen {
            try state.withLock { state throws(SystemCallError) in try count(&state, "create") }
        }
        let fd = try real.open(path, mode: mode)
        if let name = name(path) {
            state.withLock { state in
                if !existed || state.names[name] == nil {
                    let id = state.nextId
                    state.nextId += 1
                    state.names[name] = id
                    state.files[id] = TrackedFile(durable: [])
                    state.entryChanges.append(.create(name: name, id: id))
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

    /// The record and the real call happen under the state lock, so writes from several threads
    /// are recorded in the order the file received them.
    public func pwrite(_ fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try state.withLock { state throws(SystemCallError) in
            try count(&state, "pwrite")
            try countWrite(&state, "pwrite")
            let written = try real.pwrite(fd, from: buffer, at: offset)
            if let id = state.descriptors[fd] {
                state.files[id, default: TrackedFile(durable: [])].pending.append(.write(offset: Int(offset), bytes: Array(buffer[..<written])))
            }
            return written
        }
    }

    /// A sync: the real call and the record of what it made durable happen under the state lock,
    /// so a power cut on another thread falls either before it (the sync fails) or after it (the
    /// synced bytes survive) — never in between. An injected failure drops the file's unsynced
    /// changes: they stay readable, but no later sync writes them.
    private func sync(_ fd: Int32, _ call: String, _ body: (Int32) throws(SystemCallError) -> Void) throws(SystemCallError) {
        try state.withLock { state throws(SystemCallError) in
            try count(&state, call)
            let id = state.descriptors[fd]
            if id != nil {
                state.fileSyncs += 1
                if state.failSyncAt == state.fileSyncs {
                    state.syncErrors += 1
                    state.files[id!]?.pending.removeAll()
                    throw SystemCallError(call, EIO)
                }
            }
            try body(fd)
            state.syncs += 1
            if let id { state.files[id]?.sync() }
        }
    }

    public func fsync(_ fd: Int32) throws(SystemCallError) {
        try sync(fd, "fsync") { fd throws(SystemCallError) in try real.fsync(fd) }
    }

    public func fdatasync(_ fd: Int32) throws(SystemCallError) {
        try sync(fd, "fdatasync") { fd throws(SystemCallError) in try real.fdatasync(fd) }
    }

    public func ftruncate(_ fd: Int32, to length: Int64) throws(SystemCallError) {
        try state.withLock { state throws(SystemCallError) in
            try count(&state, "ftruncate")
            if let size = try? real.fstat(fd).size, length > size { try countWrite(&state, "ftruncate") }
            try real.ftruncate(fd, to: length)
            if let id = state.descriptors[fd] {
                state.files[id, default: TrackedFile(durable: [])].pending.append(.truncate(length: Int(length)))
            }
        }
    }


    public func rename(_ from: String, to: String) throws(SystemCallError) {
        try state.withLock { state throws(SystemCallError) in try count(&state, "rename") }
        try real.rename(from, to: to)
        if let source = name(from), let target = name(to) {
            state.withLock { state in
                if let id = state.names.removeValue(forKey: source) {
                    state.names[target] = id
                    state.entryChanges.append(.rename(from: source, to: target, id: id))
                }
            }
        }
    }

    public func unlink(_ path: String) throws(SystemCallError) {
        try state.withLock { state throws(SystemCallError) in try count(&state, "unlink") }
        try real.unlink(path)
        if let name = name(path) {
            state.withLock { state in
                if let id = state.names.removeValue(forKey: name) { state.entryChanges.append(.unlink(name: name, id: id)) }
            }
        }
    }

    public func mkdir(_ path: String) throws(SystemCallError) {
        try checkAlive("mkdir")
        try real.mkdir(path)
    }

    public func rmdir(_ path: String) throws(SystemCallError) {
        try checkAlive("rmdir")
        try real.rmdir(path)
    }


    public func syncDirectory(_ path: String) throws(SystemCallError) {
        try state.withLock { state throws(SystemCallError) in
            try count(&state, "fsync")
            try real.syncDirectory(path)
            if path == directory || path == directory + "/" {
                state.durableNames = state.names
                state.entryChanges.removeAll()
            }
        }
    }
}
