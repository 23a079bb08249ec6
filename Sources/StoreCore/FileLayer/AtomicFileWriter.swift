/// Streams a new file through the durable file layer under a temporary name (`NAME.tmp`) and puts
/// it in place only when `finish()` has synced it: a reader never finds a half-written file under
/// the final name, and an interrupted writer leaves only a `.tmp` file.
public final class AtomicFileWriter {
    public let path: String
    private let directory: StorageDirectory
    private let name: String
    private let file: DurableFile
    /// Bytes written so far.
    public private(set) var size: Int64 = 0
    private var finished = false

    public init(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws(StoreError) {
        self.path = path
        (directory, name) = StorageDirectory.containing(path, fileSystem: fileSystem)
        let temporary = StorageDirectory.temporaryName(for: name)
        if try directory.exists(temporary) { try directory.remove(temporary) }
        file = try directory.create(temporary)
    }

    deinit {
        if !finished { abandon() }
    }

    /// Appends `bytes` to the file.
    public func write(_ bytes: [UInt8]) throws(StoreError) {
        try file.write(bytes, at: size)
        size += Int64(bytes.count)
    }

    /// Syncs the file and renames it to its final name (fsyncing the directory).
    public func finish() throws(StoreError) {
        try file.sync()
        file.close()
        try directory.rename(StorageDirectory.temporaryName(for: name), to: name)
        finished = true
    }

    /// Drops the unfinished file.
    public func abandon() {
        finished = true
        file.close()
        try? directory.remove(StorageDirectory.temporaryName(for: name))
    }
}
