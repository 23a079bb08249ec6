import StoreCore

/// The redo journal of a `commit=journal` store, `journal.cow` (layout in FORMAT.md).
///
/// A commit appends one transaction — the chunk images it writes, their physical numbers and
/// checksums, its meta, and a checksummed commit marker — and (under durability `always`) syncs
/// the journal: that one fdatasync makes the commit durable. Only then are the same chunks
/// written into the chunk file, unsynced. The chunk file is synced at a **checkpoint**, after
/// which the journal starts a new *generation* at its first transaction offset; a checkpoint
/// happens before a commit that finds the journal past `checkpointBytes`, on a clean close and
/// on open. Every record carries the generation and its txid, so bytes of an earlier generation
/// left behind in the reused file never pass for this one's.
final class CommitJournal {
    static let fileName = "journal.cow"
    static let headerMagic: [UInt8] = Array("SBCOWJNL".utf8)
    static let transactionMagic: [UInt8] = Array("SBCOWJTX".utf8)
    static let markerMagic: [UInt8] = Array("SBCOWJCM".utf8)
    static let version: UInt32 = 1
    /// The two header slots sit at 0 and `slotSize`; transactions start at `firstTransaction`.
    static let slotSize = 512
    static let headerSize = 40
    static let firstTransaction: Int64 = 1024
    static let transactionHeaderSize = 40
    /// Per chunk: physical number u32 and CRC-32C u32 of its image.
    static let recordSize = 8
    static let markerSize = 40
    /// Flags bit 0: the generation was written under durability `always` (each transaction's
    /// journal write synced before its chunk-file writes).
    static let syncedFlag: UInt32 = 1
    /// A commit that finds this many journal bytes checkpoints first: it bounds the replay on
    /// open and the file, and amortises the checkpoint's two syncs over hundreds of commits.
    static let checkpointBytes: Int64 = 8 << 20
    /// Under `always` the file grows ahead by this many zero bytes, so that a commit's fdatasync
    /// overwrites allocated blocks instead of also journaling a size change.
    static let growthStep: Int64 = 1 << 20
    static let stagingBytes = 256 << 10

    struct Header: Equatable {
        var generation: UInt64
        var baseTxid: UInt64
        var synced: Bool
    }

    let file: DurableFile
    let chunkSize: Int
    /// The generation transactions are appended in, and the commit it continues from.
    private(set) var header: Header
    private(set) var appendOffset = firstTransaction
    /// Bytes the file holds (it is only ever grown; a new generation overwrites the old).
    private var fileBytes: Int64
    /// Transaction bytes assembled before one pwrite (a chunk image never spans two).
    private let staging: UnsafeMutableRawPointer
    private var stagedCount = 0
    private var stagedAt: Int64 = 0
    /// Counters for tests and reports.
    private(set) var syncs = 0
    private(set) var checkpoints = 0

    var needsCheckpoint: Bool { appendOffset >= Self.checkpointBytes }
    var path: String { file.path }

    private init(file: DurableFile, chunkSize: Int, header: Header) throws(StoreError) {
        self.file = file
        self.chunkSize = chunkSize
        self.header = header
        fileBytes = try file.size()
        staging = UnsafeMutableRawPointer.allocate(byteCount: Self.stagingBytes, alignment: 64)
    }

    deinit {
        staging.deallocate()
        file.close()
    }

    // MARK: Header

    static func encodeHeader(_ header: Header, chunkSize: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: headerSize)
        bytes.replaceSubrange(0..<8, with: headerMagic)
        bytes.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
            buffer.storeBytes(of: UInt32(chunkSize).littleEndian, toByteOffset: 12, as: UInt32.self)
            buffer.storeBytes(of: header.generation.littleEndian, toByteOffset: 16, as: UInt64.self)
            buffer.storeBytes(of: header.baseTxid.littleEndian, toByteOffset: 24, as: UInt64.self)
            buffer.storeBytes(of: (header.synced ? syncedFlag : 0).littleEndian, toByteOffset: 32, as: UInt32.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<36]))
            buffer.storeBytes(of: CRC32C.mask(crc).littleEndian, toByteOffset: 36, as: UInt32.self)
        }
        return bytes
    }

    enum DecodedHeader {
        case valid(Header)
        case empty
        case invalid(String)
    }

    static func decodeHeader(_ bytes: [UInt8], chunkSize: Int) -> DecodedHeader {
        guard bytes.count >= headerSize else { return .invalid("header is short") }
        if bytes[0..<headerSize].allSatisfy({ $0 == 0 }) { return .empty }
        guard bytes[0..<8].elementsEqual(headerMagic) else { return .invalid("no journal header magic") }
        return bytes.withUnsafeBytes { raw -> DecodedHeader in
            let stored = CRC32C.unmask(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 36, as: UInt32.self)))
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<36])) == stored else {
                return .invalid("header checksum mismatch")
            }
            let version = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            guard version == Self.version else { return .invalid("unknown journal version \(version)") }
            let size = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            guard Int(size) == chunkSize else {
                return .invalid("journal of \(size)-byte chunks, the chunk file has \(chunkSize)-byte chunks")
            }
            let flags = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 32, as: UInt32.self))
            return .valid(Header(
                generation: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                baseTxid: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
                synced: flags & syncedFlag != 0))
        }
    }

    // MARK: Create and open

    /// Writes a new journal atomically: generation 0 in slot 0 (generation *g* lives in slot
    /// *g mod 2*), continuing from commit 0, with no transactions.
    static func create(in directory: StorageDirectory, chunkSize: Int) throws(StoreError) {
        var contents = [UInt8](repeating: 0, count: Int(firstTransaction))
        let header = encodeHeader(Header(generation: 0, baseTxid: 0, synced: false), chunkSize: chunkSize)
        contents.replaceSubrange(0..<headerSize, with: header)
        try directory.writeAtomically(fileName, contents: contents)
    }

    /// Opens the journal of a `commit=journal` store and takes the valid header slot with the
    /// highest generation (a torn header write falls back to the generation before it).
    static func open(in directory: StorageDirectory, chunkSize: Int) throws(StoreError) -> CommitJournal {
        guard try directory.exists(fileName) else {
            throw .corrupted(file: directory.path(of: fileName), offset: 0,
                             reason: "missing: the store was created with commit=journal, whose commits it holds until a checkpoint")
        }
        let file = try directory.open(fileName, writable: true)
        var best: Header?
        var problems: [String] = []
        for slot in 0..<2 {
            let offset = slot * slotSize
            let bytes = try file.read(count: headerSize, at: Int64(offset))
            switch decodeHeader(bytes, chunkSize: chunkSize) {
            case let .valid(header):
                if best.map({ header.generation > $0.generation }) ?? true { best = header }
            case .empty: problems.append("slot \(slot) at offset \(offset) is empty")
            case let .invalid(reason): problems.append("slot \(slot) at offset \(offset): \(reason)")
            }
        }
        guard let best else {
            file.close()
            throw .corrupted(file: file.path, offset: 0, reason: "no valid journal header (\(problems.joined(separator: "; ")))")
        }
        return try CommitJournal(file: file, chunkSize: chunkSize, header: best)
    }

    // MARK: Appending

    /// Bytes of a transaction of `count` chunks.
    func transactionLength(_ count: Int) -> Int64 {
        Int64(Self.transactionHeaderSize + count * (Self.recordSize + chunkSize) + ChunkMeta.encodedSize + Self.markerSize)
    }

    /// Appends commit `txid`: header, the chunks' records, the meta, the chunk images, the
    /// marker. Nothing is synced here. `growAhead`: extend the file by zeros first (`always`).
    func append(txid: UInt64, writes: [ChunkFile.ChunkWrite], meta: UnsafeRawPointer, growAhead: Bool) throws(StoreError) {
        let length = transactionLength(writes.count)
        if growAhead && appendOffset + length > fileBytes { try grow(to: appendOffset + length) }
        stagedAt = appendOffset
        stagedCount = 0
        var head = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // 40 bytes
        var crc: UInt32 = 0
        try withUnsafeMutableBytes(of: &head) { raw throws(StoreError) in
            Self.transactionMagic.withUnsafeBytes { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            raw.storeBytes(of: header.generation.littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: txid.littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: UInt32(writes.count).littleEndian, toByteOffset: 24, as: UInt32.self)
            let headCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[0..<36]))
            raw.storeBytes(of: CRC32C.mask(headCRC).littleEndian, toByteOffset: 36, as: UInt32.self)
            crc = CRC32C.checksum(UnsafeRawBufferPointer(raw))
            try stage(UnsafeRawBufferPointer(raw))
        }
        for write in writes {
            var record = UInt64(write.physical) | UInt64(write.checksum) << 32
            record = record.littleEndian
            try withUnsafeBytes(of: &record) { raw throws(StoreError) in
                crc = CRC32C.checksum(raw, continuing: crc)
                try stage(raw)
            }
        }
        let metaBytes = UnsafeRawBufferPointer(start: meta, count: ChunkMeta.encodedSize)
        crc = CRC32C.checksum(metaBytes, continuing: crc)
        try stage(metaBytes)
        // The images are covered by their own CRCs, which the records hold and the marker covers.
        for write in writes { try stage(UnsafeRawBufferPointer(start: write.bytes, count: chunkSize)) }
        var marker = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // 40 bytes
        try withUnsafeMutableBytes(of: &marker) { raw throws(StoreError) in
            Self.markerMagic.withUnsafeBytes { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            raw.storeBytes(of: header.generation.littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: txid.littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: UInt64(length).littleEndian, toByteOffset: 24, as: UInt64.self)
            crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[0..<36]), continuing: crc)
            raw.storeBytes(of: CRC32C.mask(crc).littleEndian, toByteOffset: 36, as: UInt32.self)
            try stage(UnsafeRawBufferPointer(raw))
        }
        try flush()
        appendOffset += length
        fileBytes = max(fileBytes, appendOffset)
    }

    private func stage(_ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        if stagedCount + bytes.count > Self.stagingBytes { try flush() }
        (staging + stagedCount).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        stagedCount += bytes.count
    }

    private func flush() throws(StoreError) {
        guard stagedCount > 0 else { return }
        try file.write(UnsafeRawBufferPointer(start: staging, count: stagedCount), at: stagedAt)
        stagedAt += Int64(stagedCount)
        stagedCount = 0
    }

    private func grow(to needed: Int64) throws(StoreError) {
        let target = max(needed, fileBytes + Self.growthStep)
        let zeros = [UInt8](repeating: 0, count: Int(min(Self.growthStep, target - fileBytes)))
        var offset = fileBytes
        while offset < target {
            let count = Int(min(Int64(zeros.count), target - offset))
            try file.write(count == zeros.count ? zeros : Array(zeros[0..<count]), at: offset)
            offset += Int64(count)
        }
        fileBytes = target
    }

    /// Makes every appended transaction durable.
    func sync() throws(StoreError) {
        try file.syncData()
        syncs += 1
    }

    /// Cuts the file back to its headers (compaction, right after a checkpoint: the generation
    /// holds no transaction, so nothing is lost whether or not the cut reaches the disk).
    func truncate() throws(StoreError) {
        precondition(appendOffset == Self.firstTransaction)
        try file.truncate(to: Self.firstTransaction)
        fileBytes = Self.firstTransaction
    }

    /// Starts a new generation continuing from commit `base`, in the header slot the current
    /// one is not in. The caller has made the chunk file durable through `base` first. Synced
    /// when `durable`: the next generation must not overwrite the old one's transactions before
    /// its header is on disk, or a power loss could leave the old header over a half-overwritten
    /// old generation, and replaying a prefix of that would roll chunks back.
    func reset(base: UInt64, synced: Bool, durable: Bool) throws(StoreError) {
        let next = Header(generation: header.generation + 1, baseTxid: base, synced: synced)
        let bytes = Self.encodeHeader(next, chunkSize: chunkSize)
        try file.write(bytes, at: Int64(next.generation % 2) * Int64(Self.slotSize))
        if durable { try sync() }
        header = next
        appendOffset = Self.firstTransaction
        checkpoints += 1
    }
}
