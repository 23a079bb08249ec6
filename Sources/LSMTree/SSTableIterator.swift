import StoreCore

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
