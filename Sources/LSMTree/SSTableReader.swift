import StoreCore

/// An open SST: its index, filter and properties in memory; data blocks read on demand (through
/// the block cache for gets and scans, directly for compactions).
final class SSTReader: @unchecked Sendable {
    let number: UInt64
    let file: DurableFile
    let size: Int
    let properties: SSTProperties
    /// The index's keys (each data block's last key), end to end, and where each ends: one
    /// buffer, so a binary search retains nothing.
    private let indexKeyBytes: [UInt8]
    private let indexKeyEnds: [Int]
    private let handles: [BlockHandle]
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
        let footer = try SSTFooter.decode(try file.read(count: SSTFormat.footerSize, at: Int64(footerOffset)), fileSize: size, path: path)
        let indexBlock = try Block(bytes: Self.readBlock(file, footer.index), path: path, offset: Int64(footer.index.offset))
        filter = try Self.readBlock(file, footer.filter)
        guard let properties = SSTProperties.decode(try Self.readBlock(file, footer.properties)) else {
            throw StoreError.corrupted(file: path, offset: Int64(footer.properties.offset), reason: "SST properties block cannot be decoded")
        }
        self.properties = properties
        var cursor = BlockCursor(block: indexBlock, path: path, blockOffset: Int64(footer.index.offset))
        var keyBytes: [UInt8] = []
        var keyEnds: [Int] = []
        var dataHandles: [BlockHandle] = []
        var ok = try cursor.seekToFirst()
        while ok {
            guard let range = cursor.valueRange else {
                throw StoreError.corrupted(file: path, offset: Int64(footer.index.offset), reason: "index entry without a handle")
            }
            let handle = indexBlock.bytes.withUnsafeBytes { raw -> BlockHandle? in
                var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[range]))
                guard let offset = reader.readLength(limit: footerOffset), let length = reader.readLength(limit: footerOffset) else { return nil }
                return BlockHandle(offset: offset, size: length)
            }
            guard let handle, handle.offset + handle.size + SSTFormat.blockTrailerSize <= footerOffset else {
                throw StoreError.corrupted(file: path, offset: Int64(footer.index.offset), reason: "index entry points outside the data")
            }
            keyBytes.append(contentsOf: cursor.key)
            keyEnds.append(keyBytes.count)
            dataHandles.append(handle)
            ok = try cursor.advance()
        }
        indexKeyBytes = keyBytes
        indexKeyEnds = keyEnds
        self.handles = dataHandles
    }

    /// Reads the block at `handle` and checks its CRC.
    static func readBlock(_ file: DurableFile, _ handle: BlockHandle) throws -> [UInt8] {
        let count = handle.size + SSTFormat.blockTrailerSize
        var failure: StoreError?
        // Read straight into the array's storage, without zero-filling it first.
        var bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(StoreError) {
                initialized = try file.read(into: UnsafeMutableRawBufferPointer(buffer), at: Int64(handle.offset))
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        guard bytes.count == count else {
            throw StoreError.corrupted(file: file.path, offset: Int64(handle.offset), reason: "block cut short by the end of the file")
        }
        let stored = bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: handle.size, as: UInt32.self)) }
        bytes.removeLast(SSTFormat.blockTrailerSize)
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
        indexKeyBytes.withUnsafeBytes { bytes in
            indexKeyEnds.withUnsafeBufferPointer { ends in
                var low = 0
                var high = ends.count
                while low < high {
                    let middle = (low + high) / 2
                    let start = middle == 0 ? 0 : ends[middle - 1]
                    let last = UnsafeRawBufferPointer(rebasing: bytes[start..<ends[middle]])
                    if KeyOrder.compare(last, key) < 0 { low = middle + 1 } else { high = middle }
                }
                return low
            }
        }
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

    /// The entry for `key` in this SST, found in its block without copying keys.
    func get(_ key: UnsafeRawBufferPointer, hash: UInt64, cache: BlockCache?) throws -> Lookup {
        guard mayContain(hash: hash) else { return .absent }
        let index = blockIndex(for: key)
        guard index < handles.count else { return .absent }
        let block = try block(index, cache: cache)
        switch try block.find(key, file: file, blockOffset: blockOffset(index)) {
        case .absent: return .absent
        case .deleted: return .deleted
        case let .value(range): return .value(block, range)
        }
    }
}
