import StoreCore

/// Iterates an SST's entries in key order.
final class SSTIterator {
    let reader: SSTReader
    let cache: BlockCache?
    private var blockIndex = 0
    /// The current block's cursor; past the last block, a cursor on an empty block. Never
    /// optional, so reading the key or value borrows it in place instead of copying it out.
    private var cursor: BlockCursor

    /// A block without entries.
    private static let emptyBlock = try! Block(bytes: [0, 0, 0, 0, 1, 0, 0, 0], path: "", offset: 0)

    init(reader: SSTReader, cache: BlockCache?) {
        self.reader = reader
        self.cache = cache
        cursor = BlockCursor(block: Self.emptyBlock, path: "", blockOffset: 0)
    }

    var isValid: Bool { cursor.isValid }
    var key: [UInt8] { cursor.key }

    @inline(__always)
    func withKey<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try cursor.key.withUnsafeBytes(body)
    }

    /// The current value (nil for a tombstone); valid until the iterator moves.
    @inline(__always)
    func withValue<T>(_ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        guard let range = cursor.valueRange else { return try body(nil) }
        return try cursor.block.bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// Positions on block `index`, before its first entry; false past the last block.
    private func load(_ index: Int) throws -> Bool {
        blockIndex = index
        guard index < reader.blockCount else {
            cursor = BlockCursor(block: Self.emptyBlock, path: "", blockOffset: 0)
            return false
        }
        cursor = BlockCursor(block: try reader.block(index, cache: cache), path: reader.path, blockOffset: reader.blockOffset(index))
        return true
    }

    func seek(_ key: UnsafeRawBufferPointer) throws {
        var more = try load(reader.blockIndex(for: key))
        while more {
            if try cursor.seek(key) { return }
            more = try load(blockIndex + 1)
        }
    }

    func seekToFirst() throws {
        var more = try load(0)
        while more {
            if try cursor.seekToFirst() { return }
            more = try load(blockIndex + 1)
        }
    }

    func next() throws {
        guard cursor.isValid else { return }
        if try cursor.advance() { return }
        while try load(blockIndex + 1) {
            if try cursor.seekToFirst() { return }
        }
    }
}
