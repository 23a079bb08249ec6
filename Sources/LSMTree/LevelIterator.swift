import StoreCore

/// The disjoint, ordered SSTs of one level ≥ 1 read as one sequence.
final class LevelIterator {
    let files: [SSTReader]
    let cache: BlockCache?
    private var index: Int
    /// The iterator of `files[index]` (of the last file once past the end).
    private var current: SSTIterator

    init(files: [SSTReader], cache: BlockCache?) {
        precondition(!files.isEmpty, "a level iterator reads at least one file")
        self.files = files
        self.cache = cache
        index = 0
        current = SSTIterator(reader: files[0], cache: cache)
    }

    var isValid: Bool { current.isValid }
    var key: [UInt8] { current.key }

    @inline(__always)
    func withKey<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T { try current.withKey(body) }

    @inline(__always)
    func withValue<T>(_ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T { try current.withValue(body) }

    /// Moves on to the next files while the current one is exhausted.
    private func settle() throws {
        while !current.isValid && index + 1 < files.count {
            index += 1
            current = SSTIterator(reader: files[index], cache: cache)
            try current.seekToFirst()
        }
    }

    func seek(_ key: UnsafeRawBufferPointer) throws {
        guard let first = files.firstIndex(where: { KeyOrder.compare($0.properties.largest, key) >= 0 }) else {
            // Every file ends before the key: an exhausted iterator on the last one.
            index = files.count - 1
            current = SSTIterator(reader: files[index], cache: cache)
            return
        }
        index = first
        current = SSTIterator(reader: files[index], cache: cache)
        try current.seek(key)
        try settle()
    }

    func seekToFirst() throws {
        index = 0
        current = SSTIterator(reader: files[0], cache: cache)
        try current.seekToFirst()
        try settle()
    }

    func next() throws {
        try current.next()
        try settle()
    }
}
