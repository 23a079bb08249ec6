/// A store's directory: the only way engines create, open, rename and remove files. Every change
/// to the directory's entries is followed by an fsync of the directory, so that a create, rename or
/// unlink that returned is also durable.
public final class StorageDirectory: Sendable {
    public let path: String
    public let fileSystem: any FileSystem
    public let metrics: StoreMetrics
    /// Passed to every file opened here (testing regression checks only).
    public let degradation: Degradation?

    public init(path: String, fileSystem: any FileSystem, metrics: StoreMetrics, degradation: Degradation? = nil) {
        self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        self.fileSystem = fileSystem
        self.metrics = metrics
        self.degradation = degradation
    }

    /// The directory holding `path`, and the file's name in it.
    public static func containing(_ path: String, fileSystem: any FileSystem) -> (directory: StorageDirectory, name: String) {
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return (StorageDirectory(path: parent.isEmpty ? "/" : parent, fileSystem: fileSystem, metrics: StoreMetrics()), name)
    }

    /// Opens the file at `path` for reading.
    public static func openFile(_ path: String, fileSystem: any FileSystem) throws(StoreError) -> DurableFile {
        let (directory, name) = containing(path, fileSystem: fileSystem)
        return try directory.open(name)
    }

    /// The full path of `name` inside this directory.
    public func path(of name: String) -> String {
        path + "/" + name
    }

    /// Creates `name`, failing if it exists, and fsyncs the directory.
    public func create(_ name: String) throws(StoreError) -> DurableFile {
        let file = try open(name, mode: .createExclusive)
        metrics.addFileCreated()
        try syncDirectory()
        return file
    }

    /// Opens an existing file.
    public func open(_ name: String, writable: Bool = false) throws(StoreError) -> DurableFile {
        try open(name, mode: writable ? .readWrite : .readOnly)
    }

    /// Opens `name`, creating it (and fsyncing the directory) when missing.
    public func openOrCreate(_ name: String) throws(StoreError) -> DurableFile {
        if try exists(name) { return try open(name, mode: .readWrite) }
        return try create(name)
    }

    private func open(_ name: String, mode: FileOpenMode) throws(StoreError) -> DurableFile {
        let full = path(of: name)
        do {
            let fd = try fileSystem.open(full, mode: mode)
            return DurableFile(path: full, fd: fd, fileSystem: fileSystem, metrics: metrics, degradation: degradation)
        } catch {
            throw .io(call: error.call, errno: error.errno, path: full)
        }
    }

    public func exists(_ name: String) throws(StoreError) -> Bool {
        try status(of: name) != nil
    }

    /// `stat` of `name`, or `nil` when it does not exist.
    public func status(of name: String) throws(StoreError) -> FileStatus? {
        do { return try fileSystem.stat(path(of: name)) } catch {
            throw .io(call: error.call, errno: error.errno, path: path(of: name))
        }
    }

    /// Renames `from` to `to` (replacing `to` atomically) and fsyncs the directory.
    public func rename(_ from: String, to: String) throws(StoreError) {
        do { try fileSystem.rename(path(of: from), to: path(of: to)) } catch {
            throw .io(call: error.call, errno: error.errno, path: path(of: from) + " → " + path(of: to))
        }
        metrics.addRename()
        try syncDirectory()
    }

    /// Removes `name` and fsyncs the directory.
    public func remove(_ name: String) throws(StoreError) {
        try removeWithoutSync(name)
        try syncDirectory()
    }

    /// Removes every name in `names` that exists, then fsyncs the directory once.
    public func remove(_ names: [String]) throws(StoreError) {
        var removed = false
        for name in names where try exists(name) {
            try removeWithoutSync(name)
            removed = true
        }
        if removed { try syncDirectory() }
    }

    private func removeWithoutSync(_ name: String) throws(StoreError) {
        do { try fileSystem.unlink(path(of: name)) } catch {
            throw .io(call: error.call, errno: error.errno, path: path(of: name))
        }
        metrics.addFileRemoved()
    }

    /// fsyncs the directory itself.
    public func syncDirectory() throws(StoreError) {
        do { try fileSystem.syncDirectory(path) } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
        metrics.addSync()
    }

    /// Replaces `name` with `contents` so that a crash leaves either the old or the new file:
    /// write `name.tmp` → fsync it → rename over `name` → fsync the directory.
    public func writeAtomically(_ name: String, contents: [UInt8]) throws(StoreError) {
        let temporary = Self.temporaryName(for: name)
        if try exists(temporary) { try removeWithoutSync(temporary) }
        let file = try create(temporary)
        defer { file.close() }
        try file.write(contents, at: 0)
        try file.sync()
        try rename(temporary, to: name)
    }

    /// The whole contents of `name`.
    public func readAll(_ name: String) throws(StoreError) -> [UInt8] {
        let file = try open(name)
        defer { file.close() }
        let size = try file.size()
        return try file.read(count: Int(size), at: 0)
    }

    /// Names in the directory, sorted.
    public func list() throws(StoreError) -> [String] {
        do { return try fileSystem.listDirectory(path) } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
    }

    /// Removes leftovers of interrupted atomic writes (`*.tmp`). Engines call it on open.
    @discardableResult
    public func removeTemporaryFiles() throws(StoreError) -> [String] {
        let leftovers = try list().filter { $0.hasSuffix(Self.temporarySuffix) }
        try remove(leftovers)
        return leftovers
    }

    /// Drops every file of the directory from the page cache: the next open reads from the device,
    /// as after a restart.
    public func dropCachedPages() throws(StoreError) {
        for name in try list() {
            guard let status = try status(of: name), !status.isDirectory else { continue }
            let file = try open(name, writable: true)
            defer { file.close() }
            try file.dropCachedPages()
        }
    }

    /// Apparent and allocated bytes of every file in the directory and its subdirectories.
    public func usage() throws(StoreError) -> StoreStatistics {
        var statistics = StoreStatistics()
        for name in try list() {
            guard let status = try status(of: name) else { continue }
            if status.isDirectory {
                let inner = try StorageDirectory(path: path(of: name), fileSystem: fileSystem, metrics: metrics).usage()
                statistics.fileCount += inner.fileCount
                statistics.diskBytes += inner.diskBytes
                statistics.allocatedBytes += inner.allocatedBytes
                continue
            }
            statistics.fileCount += 1
            statistics.diskBytes += Int(status.size)
            statistics.allocatedBytes += Int(status.allocatedBytes)
        }
        return statistics
    }

    public static let temporarySuffix = ".tmp"

    public static func temporaryName(for name: String) -> String {
        name + temporarySuffix
    }

    /// Removes every file in `path` and its subdirectories, then the directory itself. Used for
    /// the scratch directories benchmarks create; a missing directory is not an error.
    public static func destroy(_ path: String, fileSystem: any FileSystem) throws(StoreError) {
        let directory = StorageDirectory(path: path, fileSystem: fileSystem, metrics: StoreMetrics())
        guard let status = try directory.status(of: ".") else { return }
        guard status.isDirectory else { throw .notAStore(path: path, reason: "it is not a directory") }
        var files: [String] = []
        for name in try directory.list() {
            if try directory.status(of: name)?.isDirectory == true {
                try destroy(directory.path(of: name), fileSystem: fileSystem)
            } else {
                files.append(name)
            }
        }
        try directory.remove(files)
        do { try fileSystem.rmdir(path) } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
    }

    /// Creates `path` and any missing parents, fsyncing each parent whose entries changed.
    public static func createPath(_ path: String, fileSystem: any FileSystem) throws(StoreError) {
        let isAbsolute = path.hasPrefix("/")
        var current = isAbsolute ? "" : "."
        for component in path.split(separator: "/") {
            let parent = current.isEmpty ? "/" : current
            current += "/" + component
            let status: FileStatus?
            do { status = try fileSystem.stat(current) } catch {
                throw .io(call: error.call, errno: error.errno, path: current)
            }
            if let status {
                if !status.isDirectory {
                    throw .notAStore(path: path, reason: "\(current) exists and is not a directory")
                }
                continue
            }
            do {
                try fileSystem.mkdir(current)
                try fileSystem.syncDirectory(parent)
            } catch {
                throw .io(call: error.call, errno: error.errno, path: current)
            }
        }
    }
}
