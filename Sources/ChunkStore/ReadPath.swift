/// Where readers get committed chunks from (setting `read_path`; see FORMAT.md, "Read path").
public enum ReadPath: String, Sendable, CaseIterable {
    /// Straight from a read-only shared mapping of the chunk file, as LMDB reads its map: no copy,
    /// no cache lookup; each physical chunk's checksum is checked on its first read.
    case mapped
    /// Through the chunk cache: a miss reads the chunk into a cache frame and checks it there.
    /// Used whatever the setting when the store's file system is not the plain POSIX one (the
    /// fault file systems see every read) or the mapping cannot be made.
    case cached
}
