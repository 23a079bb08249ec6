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

    struct Scan {
        var transactions: [Transaction]
        /// Where the committed transactions end, and what was found there.
        var end: Int64
        var reason: String
    }

    /// The complete transactions of the current generation with consecutive txids from the
    /// header's base, up to the first thing that is not one (zeros, an earlier generation's
    /// bytes, a torn or damaged transaction).
    func scan() throws(StoreError) -> Scan {
        var found: [Transaction] = []
        var offset = Self.firstTransaction
        var expected = header.baseTxid + 1
        let size = try file.size()
        let image = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { image.deallocate() }
        while true {
            if let reason = try check(at: offset, txid: expected, fileSize: size, image: image, into: &found) {
                return Scan(transactions: found, end: offset, reason: reason)
            }
            offset += transactionLength(found.last!.count)
            expected += 1
        }
    }

    /// Checks the transaction `txid` expected at `offset`: appends it to `found` and returns
    /// nil, or returns why there is none.
    private func check(at offset: Int64, txid: UInt64, fileSize: Int64, image: UnsafeMutableRawPointer,
                       into found: inout [Transaction]) throws(StoreError) -> String? {
        guard offset + Int64(Self.transactionHeaderSize) <= fileSize else { return "the end of the file" }
        let head = try file.read(count: Self.transactionHeaderSize, at: offset)
        if head.allSatisfy({ $0 == 0 }) { return "zeros (no transaction)" }
        guard head[0..<8].elementsEqual(Self.transactionMagic) else { return "no transaction magic" }
        let (headCRC, generation, foundTxid, count) = head.withUnsafeBytes { raw in
            (CRC32C.unmask(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 36, as: UInt32.self))),
             UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
             UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
             Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self))))
        }
        guard head.withUnsafeBytes({ CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<36])) }) == headCRC else {
            return "a transaction header that fails its checksum (torn)"
        }
        guard generation == header.generation else {
            return "a transaction of generation \(generation), not \(header.generation) (left from before a checkpoint)"
        }
        guard foundTxid == txid else { return "transaction \(foundTxid) where \(txid) was due" }
        let length = transactionLength(count)
        guard offset + length <= fileSize else { return "transaction \(txid) cut off by the end of the file (torn)" }
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
        guard intact else { return "transaction \(txid) without a valid commit marker (torn)" }
        let transaction = Transaction(offset: offset, txid: txid, count: count, records: records)
        let meta = records.withUnsafeBytes { ChunkMeta.decode(UnsafeRawBufferPointer(rebasing: $0[(count * Self.recordSize)...])) }
        guard case let .valid(decoded) = meta, decoded.txid == txid, decoded.chunkSize == chunkSize else {
            return "transaction \(txid) whose meta is not its own"
        }
        let imagesAt = offset + Int64(Self.transactionHeaderSize + records.count)
        for index in 0..<count {
            guard transaction.physical(index) >= 2 else { return "transaction \(txid) writing over a meta chunk" }
            let at = imagesAt + Int64(index * chunkSize)
            try file.readExactly(into: UnsafeMutableRawBufferPointer(start: image, count: chunkSize), at: at)
            guard CRC32C.checksum(UnsafeRawBufferPointer(start: image, count: chunkSize)) == transaction.checksum(index) else {
                return "transaction \(txid) whose chunk image at offset \(at) fails its checksum (torn)"
            }
        }
        found.append(transaction)
        return nil
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
    /// In a generation written under durability `always`, a commit's chunk-file writes begin
    /// only after its journal write is synced: a chunk file holding a newer commit than the
    /// journal's last complete one means synced journal bytes were damaged, not torn, and the
    /// open fails naming the journal and the offset instead of opening a store whose chunks
    /// the journal should have restored.
    func recover(into chunks: DurableFile, chunkFileTxid: UInt64, synced: Bool, durable: Bool) throws(StoreError) -> (replayed: Int, last: UInt64) {
        let scan = try scan()
        let last = scan.transactions.last?.txid ?? header.baseTxid
        if header.synced && chunkFileTxid > last {
            throw .corrupted(file: file.path, offset: scan.end,
                             reason: "the journal's commits end at \(last) with \(scan.reason), but the chunk file holds commit \(chunkFileTxid): the journal is damaged")
        }
        try apply(scan.transactions, to: chunks)
        if !scan.transactions.isEmpty && durable { try chunks.syncData() }
        try reset(base: last, synced: synced, durable: durable)
        return (scan.transactions.count, last)
    }
}
