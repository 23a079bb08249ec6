import StoreCore

/// SST file layout (see FORMAT.md): data blocks, filter block, index block, properties block —
/// each followed by its masked CRC-32C (u32) — then a 64-byte footer.
enum SSTFormat {
    static let footerSize = 64
    static let magic: UInt64 = 0x5342_4C53_4D53_5354  // "TSSMSLBS"
    static let restartInterval = 16

    static func fileName(_ number: UInt64) -> String { FileNumber.name(number, suffix: ".sst") }
}

/// Every file of a store draws its number from one counter; names pad it to six digits.
enum FileNumber {
    static func name(_ number: UInt64, prefix: String = "", suffix: String = "") -> String {
        let digits = String(number)
        return prefix + String(repeating: "0", count: max(0, 6 - digits.count)) + digits + suffix
    }
}

/// What an SST holds, as recorded in its properties block and in the MANIFEST.
struct SSTProperties: Equatable {
    var entries = 0
    var tombstones = 0
    /// Highest commit sequence whose changes (to the SST's key range) it holds completely.
    var maxSequence: UInt64 = 0
    var smallest: [UInt8] = []
    var largest: [UInt8] = []

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendVarint(UInt64(entries))
        bytes.appendVarint(UInt64(tombstones))
        bytes.appendFixed64(maxSequence)
        bytes.appendVarint(UInt64(smallest.count))
        bytes.append(contentsOf: smallest)
        bytes.appendVarint(UInt64(largest.count))
        bytes.append(contentsOf: largest)
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> SSTProperties? {
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            guard let entries = reader.readLength(limit: .max), let tombstones = reader.readLength(limit: .max),
                  let sequence = reader.readFixed64(),
                  let smallestLength = reader.readLength(limit: StoreLimits.maxKeySize), let smallest = reader.readBytes(smallestLength),
                  let largestLength = reader.readLength(limit: StoreLimits.maxKeySize), let largest = reader.readBytes(largestLength)
            else { return nil }
            return SSTProperties(entries: entries, tombstones: tombstones, maxSequence: sequence,
                                 smallest: Array(smallest), largest: Array(largest))
        }
    }
}

/// Builds one SST in memory (files are cut at a few MiB), then writes it atomically.
struct SSTBuilder {
    let blockSize: Int
    let bitsPerKey: Int
    private var contents: [UInt8] = []
    private var block: BlockBuilder
    private var index = BlockBuilder(restartInterval: 1)
    private var hashes: [UInt64] = []
    private(set) var properties = SSTProperties()

    init(blockSize: Int, bitsPerKey: Int) {
        self.blockSize = blockSize
        self.bitsPerKey = bitsPerKey
        block = BlockBuilder(restartInterval: SSTFormat.restartInterval)
        contents.reserveCapacity(1 << 20)
    }

    var isEmpty: Bool { properties.entries == 0 }
    /// Bytes so far (data blocks written plus the open one).
    var estimatedSize: Int { contents.count + block.estimatedSize }

    /// Adds an entry; keys must come in ascending order. `value` nil is a tombstone.
    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) {
        if properties.entries == 0 { properties.smallest = Array(key) }
        block.add(key, value)
        if bitsPerKey > 0 { hashes.append(BloomFilter.hash(key)) }
        properties.entries += 1
        if value == nil { properties.tombstones += 1 }
        if block.estimatedSize >= blockSize { flushBlock() }
    }

    private mutating func appendBlock(_ bytes: [UInt8]) -> (offset: Int, size: Int) {
        let offset = contents.count
        contents.append(contentsOf: bytes)
        contents.appendFixed32(CRC32C.mask(CRC32C.checksum(bytes)))
        return (offset, bytes.count)
    }

    private mutating func flushBlock() {
        guard !block.isEmpty else { return }
        let lastKey = block.lastKey
        let handle = appendBlock(block.finish())
        var encoded: [UInt8] = []
        encoded.appendVarint(UInt64(handle.offset))
        encoded.appendVarint(UInt64(handle.size))
        lastKey.withUnsafeBytes { key in encoded.withUnsafeBytes { index.add(key, $0) } }
        properties.largest = lastKey
    }

    /// The complete file.
    mutating func finish(maxSequence: UInt64) -> [UInt8] {
        flushBlock()
        properties.maxSequence = maxSequence
        let filter = appendBlock(bitsPerKey > 0 ? BloomFilter.build(hashes: hashes, bitsPerKey: bitsPerKey) : [])
        let indexHandle = appendBlock(index.finish())
        let propertiesHandle = appendBlock(properties.encoded())
        var footer: [UInt8] = []
        for handle in [indexHandle, filter, propertiesHandle] {
            footer.appendFixed64(UInt64(handle.offset))
            footer.appendFixed64(UInt64(handle.size))
        }
        footer.appendFixed32(CRC32C.mask(CRC32C.checksum(footer)))
        footer.appendFixed32(0)
        footer.appendFixed64(SSTFormat.magic)
        contents.append(contentsOf: footer)
        return contents
    }
}

/// An open SST: its index, filter and properties in memory; data blocks read on demand (through
/// the block cache for gets and scans, directly for compactions).
final class SSTReader: @unchecked Sendable {
    let number: UInt64
    let file: DurableFile
    let size: Int
    let properties: SSTProperties
    private let indexKeys: [[UInt8]]
    private let handles: [(offset: Int, size: Int)]
    private let filter: [UInt8]

    var path: String { file.path }
    var blockCount: Int { handles.count }

    init(number: UInt64, file: DurableFile) throws {
        self.number = number
        self.file = file
        size = Int(try file.size())
        let path = file.path
        guard size >= SSTFormat.footerSize else {
            throw StoreError.corrupted(file: path, offset: 0, reason: "\(size)-byte file is shorter than an SST footer")
        }
        let footerOffset = size - SSTFormat.footerSize
        let footer = try file.read(count: SSTFormat.footerSize, at: Int64(footerOffset))
        let magic = footer.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 56, as: UInt64.self)) }
        guard magic == SSTFormat.magic else {
            throw StoreError.corrupted(file: path, offset: Int64(footerOffset + 56), reason: "no SST magic number in the footer")
        }
        let storedCRC = footer.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 48, as: UInt32.self)) }
        guard CRC32C.unmask(storedCRC) == CRC32C.checksum(Array(footer[0..<48])) else {
            throw StoreError.corrupted(file: path, offset: Int64(footerOffset), reason: "SST footer checksum mismatch")
        }
        var handles: [(Int, Int)] = []
        for index in 0..<3 {
            let offset = footer.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: index * 16, as: UInt64.self))) }
            let length = footer.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: index * 16 + 8, as: UInt64.self))) }
            guard offset >= 0, length >= 0, offset + length + 4 <= footerOffset else {
                throw StoreError.corrupted(file: path, offset: Int64(footerOffset + index * 16), reason: "footer block handle out of range")
            }
            handles.append((offset, length))
        }
        let indexBlock = try Block(bytes: Self.readBlock(file, handles[0]), path: path, offset: Int64(handles[0].0))
        filter = try Self.readBlock(file, handles[1])
        guard let properties = SSTProperties.decode(try Self.readBlock(file, handles[2])) else {
            throw StoreError.corrupted(file: path, offset: Int64(handles[2].0), reason: "SST properties block cannot be decoded")
        }
        self.properties = properties
        var cursor = BlockCursor(block: indexBlock, path: path, blockOffset: Int64(handles[0].0))
        var keys: [[UInt8]] = []
        var dataHandles: [(offset: Int, size: Int)] = []
        var ok = try cursor.seekToFirst()
        while ok {
            guard let range = cursor.valueRange else { throw StoreError.corrupted(file: path, offset: Int64(handles[0].0), reason: "index entry without a handle") }
            let handle = indexBlock.bytes.withUnsafeBytes { raw -> (Int, Int)? in
                var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[range]))
                guard let offset = reader.readLength(limit: footerOffset), let length = reader.readLength(limit: footerOffset) else { return nil }
                return (offset, length)
            }
            guard let handle, handle.0 + handle.1 + 4 <= footerOffset else {
                throw StoreError.corrupted(file: path, offset: Int64(handles[0].0), reason: "index entry points outside the data")
            }
            keys.append(cursor.key)
            dataHandles.append(handle)
            ok = try cursor.advance()
        }
        indexKeys = keys
        self.handles = dataHandles
    }

    /// Reads the block at `handle` and checks its CRC.
    static func readBlock(_ file: DurableFile, _ handle: (offset: Int, size: Int)) throws -> [UInt8] {
        var bytes = try file.read(count: handle.size + 4, at: Int64(handle.offset))
        guard bytes.count == handle.size + 4 else {
            throw StoreError.corrupted(file: file.path, offset: Int64(handle.offset), reason: "block cut short by the end of the file")
        }
        let stored = UInt32(bytes[handle.size]) | UInt32(bytes[handle.size + 1]) << 8
            | UInt32(bytes[handle.size + 2]) << 16 | UInt32(bytes[handle.size + 3]) << 24
        bytes.removeLast(4)
        guard CRC32C.unmask(stored) == CRC32C.checksum(bytes) else {
            throw StoreError.corrupted(file: file.path, offset: Int64(handle.offset), reason: "block checksum mismatch")
        }
        return bytes
    }

    @inline(__always)
    func mayContain(hash: UInt64) -> Bool {
        filter.withUnsafeBytes { BloomFilter.mayContain($0, hash: hash) }
    }

    /// Index of the first data block whose last key is ≥ `key` (blockCount if none).
    func blockIndex(for key: UnsafeRawBufferPointer) -> Int {
        var low = 0
        var high = indexKeys.count
        while low < high {
            let middle = (low + high) / 2
            if KeyOrder.compare(indexKeys[middle], key) < 0 { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Data block `index`, from `cache` when given.
    func block(_ index: Int, cache: BlockCache?) throws -> Block {
        let cacheKey = number << 24 | UInt64(index)
        if let cache, let cached = cache.lookup(cacheKey) { return cached }
        let handle = handles[index]
        let block = try Block(bytes: Self.readBlock(file, handle), path: path, offset: Int64(handle.offset))
        cache?.insert(cacheKey, block)
        return block
    }

    func blockOffset(_ index: Int) -> Int64 { Int64(handles[index].offset) }

    enum Lookup {
        case absent, deleted
        case value(Block, Range<Int>)
    }

    /// The entry for `key` in this SST. `keyBuffer` is scratch space the caller keeps, so a
    /// lookup does not allocate one.
    func get(_ key: UnsafeRawBufferPointer, hash: UInt64, cache: BlockCache?, keyBuffer: inout [UInt8]) throws -> Lookup {
        guard mayContain(hash: hash) else { return .absent }
        let index = blockIndex(for: key)
        guard index < handles.count else { return .absent }
        var cursor = BlockCursor(block: try block(index, cache: cache), path: path, blockOffset: blockOffset(index))
        swap(&cursor.key, &keyBuffer)
        defer { swap(&cursor.key, &keyBuffer) }
        guard try cursor.seek(key), KeyOrder.compare(cursor.key, key) == 0 else { return .absent }
        guard let range = cursor.valueRange else { return .deleted }
        return .value(cursor.block, range)
    }
}

/// Iterates an SST's entries in key order.
final class SSTIterator {
    let reader: SSTReader
    let cache: BlockCache?
    private var blockIndex = 0
    private var cursor: BlockCursor?

    init(reader: SSTReader, cache: BlockCache?) {
        self.reader = reader
        self.cache = cache
    }

    var isValid: Bool { cursor?.isValid ?? false }
    var key: [UInt8] { cursor!.key }
    /// The current value (nil for a tombstone); valid until the iterator moves.
    func withValue<T>(_ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        let cursor = cursor!
        guard let range = cursor.valueRange else { return try body(nil) }
        return try cursor.block.bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    private func load(_ index: Int) throws {
        blockIndex = index
        cursor = index < reader.blockCount
            ? BlockCursor(block: try reader.block(index, cache: cache), path: reader.path, blockOffset: reader.blockOffset(index))
            : nil
    }

    func seek(_ key: UnsafeRawBufferPointer) throws {
        try load(reader.blockIndex(for: key))
        while cursor != nil {
            if try cursor!.seek(key) { return }
            try load(blockIndex + 1)
        }
    }

    func seekToFirst() throws {
        try load(0)
        while cursor != nil {
            if try cursor!.seekToFirst() { return }
            try load(blockIndex + 1)
        }
    }

    func next() throws {
        guard cursor != nil else { return }
        if try cursor!.advance() { return }
        while true {
            try load(blockIndex + 1)
            guard cursor != nil else { return }
            if try cursor!.seekToFirst() { return }
        }
    }
}
