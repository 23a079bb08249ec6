import StoreCore

/// The `cow` engine's settings (`--set name=value`).
struct ChunkStoreSettings: Sendable {
    static let known: Set<String> = ["chunk_size", "cache_size", "commit", "read_path"]

    /// Chunk size of a new store (a power of two, 512 B … 64 KiB); `nil`: 4 KiB, or whatever an
    /// existing store was created with.
    var chunkSize: Int?
    /// Bytes of verified chunks kept in memory.
    var cacheBytes: Int
    /// Where readers read committed chunks: the file's mapping or the chunk cache.
    var readPath: ReadPath
    /// Commit mode of a new store; `nil`: shadow, or whatever an existing store was created with.
    var commitMode: CommitMode?

    init(_ options: StoreOptions) throws(StoreError) {
        let settings = try options.engineSettings(for: ChunkStore.engineName, known: Self.known)
        if settings.values["chunk_size"] != nil {
            let size = try settings.size("chunk_size", default: ChunkGeometry.defaultChunkSize,
                                         range: ChunkGeometry.minimumChunkSize...ChunkGeometry.maximumChunkSize)
            guard ChunkGeometry.isValidChunkSize(size) else {
                throw .invalidArgument("cow setting `chunk_size`: \(size) is not a power of two")
            }
            chunkSize = size
        }
        cacheBytes = try settings.size("cache_size", default: 64 << 20, range: (64 << 10)...(1 << 40))
        readPath = try settings.choice("read_path", default: ReadPath.mapped)
        if settings.values["commit"] != nil {
            commitMode = try settings.choice("commit", default: CommitMode.shadow)
        }
    }
}
