import StoreCore

/// One of the two meta chunks (physical chunks 0 and 1). A commit makes its changes current by
/// writing its meta into the slot `txid % 2`, so the previous commit's meta stays intact in the
/// other slot until the next commit: a torn meta write falls back to the commit before it.
public struct ChunkMeta: Sendable, Equatable {
    static let magic: [UInt8] = Array("SBCOWMET".utf8)
    /// Version 1: shadow commits (flags zero). Version 2 adds the flags word, written by stores
    /// with `commit=journal`, so that a reader that knows only version 1 refuses them instead of
    /// opening the chunk file without replaying its journal. Version 3 adds flags bit 1 (a
    /// commit made durable by one sync), so that a reader that would not check such a commit's
    /// chunks on open refuses it.
    static let formatVersion: UInt32 = 3
    /// Flags bit 0: the store commits through a journal (`commit=journal`).
    static let journalFlag: UInt32 = 1
    /// Flags bit 1: this commit's chunks and meta were made durable together, by one sync, after
    /// the commit before it was durable. Its meta may reach the disk without some of its chunks,
    /// so open checks the chunks it wrote before trusting it (see `ChunkFile.openableMeta`).
    static let singleSyncFlag: UInt32 = 2
    /// Bytes the meta occupies at the start of its chunk (the rest is zero).
    static let encodedSize = 80

    public var chunkSize: Int
    /// Commit number; the valid meta with the highest txid is current.
    public var txid: UInt64
    /// Physical chunks in the file, metas included: everything at or past it is not in use.
    public var chunkCount: UInt64
    /// Levels of the translation table (1 = the root chunk holds virtual ids' entries directly).
    public var tableDepth: UInt32
    /// Physical chunk and checksum of the translation table's root chunk (0 = empty table).
    public var tableRoot: ChunkReference
    /// Virtual ids handed out so far (the translation table's length).
    public var virtualCount: UInt32
    /// Virtual id of the B+tree root (0 = no tree yet). The chunk layer keeps it for its user.
    public var userRoot: UInt32
    /// Two counters the user of the chunk layer keeps with each commit (the tree: keys, bytes).
    public var userCounters: (UInt64, UInt64)
    /// How the store commits: fixed when it is created (flags bit 0).
    public var commitMode: CommitMode
    /// Whether this commit was made durable by one sync (flags bit 1), so open checks its chunks.
    public var singleSync = false

    public init(chunkSize: Int, commitMode: CommitMode = .shadow) {
        self.chunkSize = chunkSize
        txid = 0
        chunkCount = 2
        tableDepth = 1
        tableRoot = ChunkReference(physical: 0, checksum: 0)
        virtualCount = 1  // virtual id 0 means "none"
        userRoot = 0
        userCounters = (0, 0)
        self.commitMode = commitMode
    }

    public static func == (a: ChunkMeta, b: ChunkMeta) -> Bool {
        a.encoded() == b.encoded()
    }

    /// Layout (little-endian): magic[8] version u32 chunkSize u32 txid u64 chunkCount u64
    /// tableDepth u32 tableRoot u64 virtualCount u32 userRoot u32 counter0 u64 counter1 u64
    /// flags u32 reserved u32 crc32c u32 (masked, over everything before it). Shadow stores
    /// write version 1 and zero flags, exactly as before flags existed.
    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.encodedSize)
        bytes.withUnsafeMutableBytes { encode(into: $0.baseAddress!) }
        return bytes
    }

    /// Writes the `encodedSize` bytes of the meta at `buffer` (each commit does, so no array).
    func encode(into buffer: UnsafeMutableRawPointer) {
        Self.magic.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: 8) }
        let journal = commitMode == .journal
        let flags = (journal ? Self.journalFlag : 0) | (singleSync ? Self.singleSyncFlag : 0)
        // The lowest version that can read this meta: a shadow commit made by two syncs is
        // exactly the layout from before flags existed.
        let version: UInt32 = singleSync ? 3 : journal ? 2 : 1
        buffer.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
        buffer.storeBytes(of: UInt32(chunkSize).littleEndian, toByteOffset: 12, as: UInt32.self)
        buffer.storeBytes(of: txid.littleEndian, toByteOffset: 16, as: UInt64.self)
        buffer.storeBytes(of: chunkCount.littleEndian, toByteOffset: 24, as: UInt64.self)
        buffer.storeBytes(of: tableDepth.littleEndian, toByteOffset: 32, as: UInt32.self)
        buffer.storeBytes(of: tableRoot.packed.littleEndian, toByteOffset: 36, as: UInt64.self)
        buffer.storeBytes(of: virtualCount.littleEndian, toByteOffset: 44, as: UInt32.self)
        buffer.storeBytes(of: userRoot.littleEndian, toByteOffset: 48, as: UInt32.self)
        buffer.storeBytes(of: userCounters.0.littleEndian, toByteOffset: 52, as: UInt64.self)
        buffer.storeBytes(of: userCounters.1.littleEndian, toByteOffset: 60, as: UInt64.self)
        buffer.storeBytes(of: flags.littleEndian, toByteOffset: 68, as: UInt32.self)
        buffer.storeBytes(of: UInt32(0), toByteOffset: 72, as: UInt32.self)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: buffer, count: Self.encodedSize - 4))
        buffer.storeBytes(of: CRC32C.mask(crc).littleEndian, toByteOffset: Self.encodedSize - 4, as: UInt32.self)
    }

    enum Decoded {
        case valid(ChunkMeta)
        /// Never written (all zero): a store whose second commit has not happened yet.
        case empty
        case invalid(String)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) -> Decoded {
        guard bytes.count >= encodedSize else { return .invalid("meta chunk is short") }
        if bytes.prefix(encodedSize).allSatisfy({ $0 == 0 }) { return .empty }
        guard bytes.prefix(8).elementsEqual(magic) else { return .invalid("no meta magic") }
        let crcOffset = encodedSize - 4
        var reader = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[0..<encodedSize]), offset: 8)
        let stored = UnsafeRawBufferPointer(rebasing: bytes[crcOffset..<(crcOffset + 4)]).loadUnaligned(as: UInt32.self)
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<crcOffset])) == CRC32C.unmask(UInt32(littleEndian: stored)) else {
            return .invalid("meta checksum mismatch")
        }
        guard let version = reader.readFixed32(), version <= formatVersion else {
            return .invalid("meta has an unknown format version")
        }
        guard let chunkSize = reader.readFixed32(), let txid = reader.readFixed64(),
              let chunkCount = reader.readFixed64(), let depth = reader.readFixed32(),
              let root = reader.readFixed64(), let virtualCount = reader.readFixed32(),
              let userRoot = reader.readFixed32(), let counter0 = reader.readFixed64(),
              let counter1 = reader.readFixed64(), let flags = reader.readFixed32()
        else { return .invalid("meta is short") }
        var meta = ChunkMeta(chunkSize: Int(chunkSize))
        meta.txid = txid
        meta.chunkCount = chunkCount
        meta.tableDepth = depth
        meta.tableRoot = ChunkReference(packed: root)
        meta.virtualCount = virtualCount
        meta.userRoot = userRoot
        meta.userCounters = (counter0, counter1)
        guard flags & ~(journalFlag | singleSyncFlag) == 0, version >= 2 || flags == 0,
              version >= 3 || flags & singleSyncFlag == 0
        else {
            return .invalid("meta has unknown flags \(flags)")
        }
        meta.commitMode = flags & journalFlag != 0 ? .journal : .shadow
        meta.singleSync = flags & singleSyncFlag != 0
        guard ChunkGeometry.isValidChunkSize(Int(chunkSize)), depth >= 1, depth <= 8, chunkCount >= 2 else {
            return .invalid("meta fields out of range (chunk size \(chunkSize), depth \(depth))")
        }
        return .valid(meta)
    }
}

/// Where a chunk lives and what its bytes must hash to: one translation-table entry.
/// Packed as `physical | crc << 32`; physical 0 (a meta chunk) means "not mapped".
public struct ChunkReference: Sendable, Equatable {
    public var physical: UInt32
    public var checksum: UInt32

    public init(physical: UInt32, checksum: UInt32) {
        self.physical = physical
        self.checksum = checksum
    }

    init(packed: UInt64) {
        physical = UInt32(truncatingIfNeeded: packed)
        checksum = UInt32(truncatingIfNeeded: packed >> 32)
    }

    var packed: UInt64 { UInt64(physical) | UInt64(checksum) << 32 }
    var isMapped: Bool { physical != 0 }
}

/// Sizes derived from the chunk size.
public enum ChunkGeometry {
    public static let minimumChunkSize = 512
    public static let maximumChunkSize = 64 << 10
    public static let defaultChunkSize = 4096

    public static func isValidChunkSize(_ size: Int) -> Bool {
        size >= minimumChunkSize && size <= maximumChunkSize && size & (size - 1) == 0
    }

    /// Translation-table entries per table chunk.
    static func entriesPerChunk(_ chunkSize: Int) -> Int { chunkSize / 8 }
}
