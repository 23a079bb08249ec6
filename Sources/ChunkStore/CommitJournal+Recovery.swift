#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// Opening a `commit=journal` store: the committed transactions of the journal's current
/// generation are replayed into the chunk file, in order, then the journal starts a new
/// generation. Replay writes whole chunk images and metas to fixed places, so it is idempotent:
/// a crash during it leaves the journal as it was, and the next open replays it again.
extension CommitJournal {
    /// A committed transaction found in the journal.
    struct Transaction {
        var offset: Int64
        var txid: UInt64
        var count: Int
        /// The records (physical u32, CRC u32 per chunk) followed by the meta.
        var records: [UInt8]

        func physical(_ index: Int) -> Int64 {
            Int64(records.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: index * 8, as: UInt32.self)) })
        }

        func checksum(_ index: Int) -> UInt32 {
            records.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: index * 8 + 4, as: UInt32.self)) }
        }
    }

    /// What the scan found at one offset.
    enum Outcome {
        case committed(Transaction)
        /// No transaction of this generation starts here. `clean`: zeros, the end of the file,
        /// or an intact header of an earlier generation; otherwise the bytes may be a torn or a
        /// damaged transaction header.
        case end(String, clean: Bool)
        /// The transaction due here has an intact header but not an intact body or marker:
        /// torn, or damaged.
        case incomplete(String)
        /// An intact transaction header of a generation newer than the header slot in use: the
        /// newest header slot is damaged (a new generation's header is synced before anything
        /// is appended in it).
        case newerGeneration(String)
    }

    struct Scan {
        var transactions: [Transaction]
        /// Where the committed transactions end, and what is there.
        var end: Int64
        var outcome: Outcome
    }

    /// The complete transactions of the current generation with consecutive txids from the
    /// header's base, up to the first thing that is not one.
    func scan() throws(StoreError) -> Scan {
        var found: [Transaction] = []
        var offset = Self.firstTransaction
        var expected = header.baseTxid + 1
        let size = try file.size()
        let image = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { image.deallocate() }
        while true {
            let outcome = try check(at: offset, txid: expected, fileSize: size, image: image)
            guard case let .committed(transaction) = outcome else {
                return Scan(transactions: found, end: offset, outcome: outcome)
            }
            found.append(transaction)
            offset += transactionLength(transaction.count)
            expected += 1
        }
    }

    /// Checks the transaction `txid` expected at `offset`.
    func check(at offset: Int64, txid: UInt64, fileSize: Int64, image: UnsafeMutableRawPointer) throws(StoreError) -> Outcome {
        guard offset + Int64(Self.transactionHeaderSize) <= fileSize else { return .end("the end of the file", clean: true) }
        let head = try file.read(count: Self.transactionHeaderSize, at: offset)
        if head.allSatisfy({ $0 == 0 }) { return .end("zeros", clean: true) }
        guard head[0..<8].elementsEqual(Self.transactionMagic) else { return .end("no transaction magic", clean: false) }
        let (headCRC, generation, foundTxid, count) = head.withUnsafeBytes { raw in
            (CRC32C.unmask(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 36, as: UInt32.self))),
             UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
             UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
             Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self))))
        }
        guard head.withUnsafeBytes({ CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<36])) }) == headCRC else {
            return .end("a transaction header that fails its checksum", clean: false)
        }
        guard generation <= header.generation else {
            return .newerGeneration("transaction \(foundTxid) of generation \(generation), newer than the header's \(header.generation)")
        }
        guard generation == header.generation else {
            return .end("a transaction of generation \(generation), left from before a checkpoint", clean: true)
        }
        guard foundTxid == txid else { return .end("transaction \(foundTxid) where \(txid) was due", clean: false) }
        let length = transactionLength(count)
        guard offset + length <= fileSize else {
            return .incomplete("transaction \(txid) cut off by the end of the file")
        }
        let records = try file.read(count: count * Self.recordSize + ChunkMeta.encodedSize,
                                    at: offset + Int64(Self.transactionHeaderSize))
        let marker = try file.read(count: Self.markerSize, at: offset + length - Int64(Self.markerSize))
        var crc = head.withUnsafeBytes { CRC32C.checksum($0) }
        crc = records.withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
        crc = marker.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<36]), continuing: crc) }
        let intact = marker.withUnsafeBytes { raw in
            marker[0..<8].elementsEqual(Self.markerMagic)
                && UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) == generation
                && UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)) == txid
                && UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)) == UInt64(length)
                && CRC32C.unmask(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 36, as: UInt32.self))) == crc
        }
        guard intact else { return .incomplete("transaction \(txid) without a valid commit marker") }
        let transaction = Transaction(offset: offset, txid: txid, count: count, records: records)
        let meta = records.withUnsafeBytes { ChunkMeta.decode(UnsafeRawBufferPointer(rebasing: $0[(count * Self.recordSize)...])) }
        guard case let .valid(decoded) = meta, decoded.txid == txid, decoded.chunkSize == chunkSize else {
            return .incomplete("transaction \(txid) whose meta is not its own")
        }
        let imagesAt = offset + Int64(Self.transactionHeaderSize + records.count)
        for index in 0..<count {
            guard transaction.physical(index) >= 2 else {
                return .incomplete("transaction \(txid) writing over a meta chunk")
            }
            let at = imagesAt + Int64(index * chunkSize)
            try file.readExactly(into: UnsafeMutableRawBufferPointer(start: image, count: chunkSize), at: at)
            guard CRC32C.checksum(UnsafeRawBufferPointer(start: image, count: chunkSize)) == transaction.checksum(index) else {
                return .incomplete("transaction \(txid) whose chunk image at offset \(at) fails its checksum")
            }
        }
        return .committed(transaction)
    }

    /// Writes each transaction's chunk images and meta into the chunk file, oldest first.
    func apply(_ transactions: [Transaction], to chunks: DurableFile) throws(StoreError) {
        let image = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { image.deallocate() }
        for transaction in transactions {
            let imagesAt = transaction.offset + Int64(Self.transactionHeaderSize + transaction.records.count)
            for index in 0..<transaction.count {
                let buffer = UnsafeMutableRawBufferPointer(start: image, count: chunkSize)
                try file.readExactly(into: buffer, at: imagesAt + Int64(index * chunkSize))
                try chunks.write(UnsafeRawBufferPointer(buffer), at: transaction.physical(index) * Int64(chunkSize))
            }
            let meta = Array(transaction.records[(transaction.count * Self.recordSize)...])
            try chunks.write(meta, at: Int64(transaction.txid % 2) * Int64(chunkSize))
        }
    }

    /// Replays the committed transactions into `chunks`, syncs it, and starts a new generation
    /// (so nothing of this one is ever replayed again). `chunkFileTxid`: the newest valid meta
    /// of the chunk file before replay. Returns the transactions replayed and the last commit.
    ///
    /// What ends the replay is taken for a torn tail — the commit in flight at a crash —
    /// unless it cannot be one; then the open fails naming the journal and the offset, so a
    /// flipped byte is reported instead of silently dropping the commits after it:
    /// - a transaction of a newer generation than the header in use (the newest header slot is
    ///   damaged: a generation's header is synced before anything is appended in it);
    /// - in a generation written under durability `always`, where each transaction is synced
    ///   before the next is appended and before its chunk-file writes: a complete transaction
    ///   of this generation with a later txid past the end, or a chunk file already holding a
    ///   newer commit than the journal's last complete one.
    func recover(into chunks: DurableFile, chunkFileTxid: UInt64, synced: Bool, durable: Bool) throws(StoreError) -> (replayed: Int, last: UInt64) {
        let scan = try scan()
        let last = scan.transactions.last?.txid ?? header.baseTxid
        switch scan.outcome {
        case let .newerGeneration(what):
            throw .corrupted(file: file.path, offset: scan.end, reason: "\(what): the journal header is damaged")
        case let .incomplete(what), let .end(what, false):
            if header.synced, let later = try laterTransaction(after: scan.end, txid: last) {
                throw .corrupted(file: file.path, offset: scan.end,
                                 reason: "the journal's commits stop here at \(what), yet transaction \(later.txid) at offset \(later.offset) is complete: the journal is damaged")
            }
        default: break
        }
        if header.synced && chunkFileTxid > last {
            throw .corrupted(file: file.path, offset: scan.end,
                             reason: "the journal's commits end at \(last), but the chunk file holds commit \(chunkFileTxid): the journal is damaged")
        }
        try apply(scan.transactions, to: chunks)
        if !scan.transactions.isEmpty && durable { try chunks.syncData() }
        try reset(base: last, synced: synced, durable: durable)
        return (scan.transactions.count, last)
    }

    /// A complete transaction of the current generation with a txid past `txid + 1`, anywhere
    /// after `offset` (found by its magic: the damaged one before it hides its length). Read
    /// only when a synced generation's replay stops at something other than zeros or stale bytes.
    private func laterTransaction(after offset: Int64, txid: UInt64) throws(StoreError) -> Transaction? {
        let size = try file.size()
        let image = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { image.deallocate() }
        let piece = 1 << 20
        var start = offset + 1
        while start + Int64(Self.transactionHeaderSize) <= size {
            let bytes = try file.read(count: Int(min(Int64(piece), size - start)), at: start)
            var index = 0
            while let hit = Self.findMagic(in: bytes, from: index) {
                let at = start + Int64(hit)
                let head = try file.read(count: Self.transactionHeaderSize, at: at)
                if head.count == Self.transactionHeaderSize {
                    let found = head.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self)) }
                    if found > txid + 1, case let .committed(transaction) = try check(at: at, txid: found, fileSize: size, image: image) {
                        return transaction
                    }
                }
                index = hit + 1
            }
            // The next piece starts 7 bytes back, so a magic across the boundary is seen.
            start += Int64(max(1, bytes.count - 7))
        }
        return nil
    }

    /// The offset of the next transaction magic in `bytes` at or after `from`.
    private static func findMagic(in bytes: [UInt8], from: Int) -> Int? {
        guard from < bytes.count else { return nil }
        return bytes.withUnsafeBytes { raw -> Int? in
            transactionMagic.withUnsafeBytes { magic -> Int? in
                var position = from
                while position + magic.count <= raw.count {
                    guard let first = memchr(raw.baseAddress! + position, Int32(magic[0]), raw.count - position) else { return nil }
                    position = UnsafeRawPointer(first) - raw.baseAddress!
                    if position + magic.count <= raw.count, memcmp(first, magic.baseAddress!, magic.count) == 0 { return position }
                    position += 1
                }
                return nil
            }
        }
    }
}
