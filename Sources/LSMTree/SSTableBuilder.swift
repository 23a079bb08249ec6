import StoreCore

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

    private mutating func appendBlock(_ bytes: [UInt8]) -> BlockHandle {
        let offset = contents.count
        contents.append(contentsOf: bytes)
        contents.appendFixed32(CRC32C.mask(CRC32C.checksum(bytes)))
        return BlockHandle(offset: offset, size: bytes.count)
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
        contents.append(contentsOf: SSTFooter(index: indexHandle, filter: filter, properties: propertiesHandle).encoded())
        return contents
    }
}
