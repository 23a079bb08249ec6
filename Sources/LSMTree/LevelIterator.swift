import StoreCore

/// The disjoint, ordered SSTs of one level ≥ 1 read as one sequence.
final class LevelIterator {
    let files: [SSTReader]
    let cache: BlockCache?
    private var index = 0
    private var current: SSTIterator?

    init(files: [SSTReader], cache: BlockCache?) {
        self.files = files
        self.cache = cache
    }

    var isValid: Bool { current?.isValid ?? false }
    var key: [UInt8] { current!.key }
    func withValue<T>(_ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T { try current!.withValue(body) }

    private func settle() throws {
        while let iterator = current, !iterator.isValid {
            index += 1
            guard index < files.count else {
                current = nil
                return
            }
            current = SSTIterator(reader: files[index], cache: cache)
            try current!.seekToFirst()
        }
    }

    func seek(_ key: UnsafeRawBufferPointer) throws {
        index = files.firstIndex { KeyOrder.compare($0.properties.largest, key) >= 0 } ?? files.count
        guard index < files.count else {
            current = nil
            return
        }
        current = SSTIterator(reader: files[index], cache: cache)
        try current!.seek(key)
        try settle()
    }

    func seekToFirst() throws {
        index = 0
        guard !files.isEmpty else { return }
        current = SSTIterator(reader: files[0], cache: cache)
        try current!.seekToFirst()
        try settle()
    }

    func next() throws {
        try current?.next()
        try settle()
    }
}
