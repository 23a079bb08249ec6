#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A store directory that this process holds: its identity has been checked (it is empty, or it
/// holds a store of the expected engine) and its `LOCK` file is locked with `flock`, so a second
/// open — from this process or another — fails with `StoreError.locked` until `release()`.
public final class LockedDirectory: @unchecked Sendable {
    public let directory: StorageDirectory
    /// `true` when the directory held no store before this open.
    public let isNew: Bool
    /// The identity file as found (or as written, for a new store).
    public let identity: StoreIdentity
    private var lockFile: DurableFile?

    /// Name of the lock file inside the store directory.
    public static let lockName = "LOCK"

    private init(directory: StorageDirectory, isNew: Bool, identity: StoreIdentity, lockFile: DurableFile) {
        self.directory = directory
        self.isNew = isNew
        self.identity = identity
        self.lockFile = lockFile
    }

    deinit { release() }

    /// Opens (and when allowed creates) the store directory at `path` for `engine`.
    /// - Throws: `StoreError.notAStore` for a foreign or missing directory, `wrongEngine` for
    ///   another engine's store or a newer format, `locked` when another store has it open.
    public static func open(
        path: String, engine: String, formatVersion: Int, options: StoreOptions, metrics: StoreMetrics
    ) throws(StoreError) -> LockedDirectory {
        let fileSystem = options.fileSystem
        let status: FileStatus?
        do { status = try fileSystem.stat(path) } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
        if status == nil {
            guard options.createIfMissing else {
                throw .notAStore(path: path, reason: "the directory does not exist")
            }
            try StorageDirectory.createPath(path, fileSystem: fileSystem)
        } else if status?.isDirectory == false {
            throw .notAStore(path: path, reason: "it is a file, not a directory")
        }
        let directory = StorageDirectory(path: path, fileSystem: fileSystem, metrics: metrics, degradation: options.degradation)
        let existing = try StoreIdentity.read(from: directory)
        if let existing {
            guard existing.engine == engine else {
                throw .wrongEngine(path: path, found: existing.engine, expected: engine)
            }
            guard existing.formatVersion <= formatVersion else {
                throw .wrongEngine(path: path, found: "\(existing.engine) format \(existing.formatVersion)",
                                   expected: "\(engine) format ≤ \(formatVersion)")
            }
        } else {
            // A directory without identity may only hold what an interrupted creation leaves.
            let foreign = try directory.list().filter {
                $0 != lockName && !$0.hasSuffix(StorageDirectory.temporarySuffix)
            }
            if !foreign.isEmpty {
                let shown = foreign.prefix(3).map { "`\($0)`" }.joined(separator: ", ")
                throw .notAStore(path: path, reason: "it holds \(foreign.count) entr\(foreign.count == 1 ? "y" : "ies") (\(shown)) and no \(StoreIdentity.fileName) identity file; refusing to touch it")
            }
            guard options.createIfMissing else {
                throw .notAStore(path: path, reason: "the directory is empty")
            }
        }
        let lockFile = try directory.openOrCreate(lockName)
        guard try lockFile.lockExclusive() else {
            let holder = try? lockFile.read(count: 32, at: 0)
            lockFile.close()
            let pid = holder.flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n").first.map { $0.trimmingCharacters(in: " ") } }
            throw .locked(path: path, holder: pid?.isEmpty == false ? pid : nil)
        }
        // Record the holder for the message a second opener prints; durability does not matter.
        // Fixed width, so the directory's size does not depend on the pid.
        let digits = String(getpid())
        let pid = Array((String(repeating: " ", count: max(0, 10 - digits.count)) + digits + "\n").utf8)
        try lockFile.truncate(to: 0)
        try lockFile.write(pid, at: 0)
        if let existing {
            return LockedDirectory(directory: directory, isNew: false, identity: existing, lockFile: lockFile)
        }
        let identity = StoreIdentity(engine: engine, formatVersion: formatVersion)
        try directory.removeTemporaryFiles()
        try directory.writeAtomically(StoreIdentity.fileName, contents: identity.encoded())
        return LockedDirectory(directory: directory, isNew: true, identity: identity, lockFile: lockFile)
    }

    /// Unlocks the directory. Idempotent.
    public func release() {
        lockFile?.close()
        lockFile = nil
    }
}

/// The `STOREBENCH` file that marks a directory as a store and names its engine and format, so a
/// store is never opened by the wrong engine and a foreign directory is never written to.
public struct StoreIdentity: Sendable, Equatable {
    public static let fileName = "STOREBENCH"
    private static let magicLine = "storebench store"

    public var engine: String
    public var formatVersion: Int

    public init(engine: String, formatVersion: Int) {
        self.engine = engine
        self.formatVersion = formatVersion
    }

    /// Text form: `storebench store`, `engine: NAME`, `format: N`, one per line.
    public func encoded() -> [UInt8] {
        Array("\(Self.magicLine)\nengine: \(engine)\nformat: \(formatVersion)\n".utf8)
    }

    /// The identity in `directory`, or `nil` when it has none.
    public static func read(from directory: StorageDirectory) throws(StoreError) -> StoreIdentity? {
        guard try directory.exists(fileName) else { return nil }
        let bytes = try directory.readAll(fileName)
        let path = directory.path(of: fileName)
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.first == magicLine else {
            throw .corrupted(file: path, offset: 0, reason: "first line is not `\(magicLine)`")
        }
        var engine: String?
        var version: Int?
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: " ") }
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "engine": engine = parts[1]
            case "format": version = Int(parts[1])
            default: break
            }
        }
        guard let engine, !engine.isEmpty, let version else {
            throw .corrupted(file: path, offset: 0, reason: "missing `engine:` or `format:` line")
        }
        return StoreIdentity(engine: engine, formatVersion: version)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var slice = self[...]
        while slice.first == set { slice = slice.dropFirst() }
        while slice.last == set { slice = slice.dropLast() }
        return String(slice)
    }
}
