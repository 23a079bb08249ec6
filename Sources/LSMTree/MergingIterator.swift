import StoreCore

/// One input of a merge: an enum of final classes rather than a protocol, so merging neither
/// boxes nor copies an iterator's buffers.
enum EntrySource {
    case memory(MemtableCursor)
    case table(SSTIterator)
    case level(LevelIterator)

    var isValid: Bool {
        switch self {
        case let .memory(cursor): cursor.isValid
        case let .table(iterator): iterator.isValid
        case let .level(iterator): iterator.isValid
        }
    }

    var key: [UInt8] {
        switch self {
        case let .memory(cursor): cursor.key
        case let .table(iterator): iterator.key
        case let .level(iterator): iterator.key
        }
    }

    func withValue<T>(_ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        switch self {
        case let .memory(cursor):
            guard let value = cursor.value else { return try body(nil) }
            return try value.withUnsafeBytes { try body($0) }
        case let .table(iterator): return try iterator.withValue(body)
        case let .level(iterator): return try iterator.withValue(body)
        }
    }

    func seek(_ key: [UInt8]) throws {
        switch self {
        case let .memory(cursor): cursor.seek(key)
        case let .table(iterator): try key.withUnsafeBytes { (raw) in try iterator.seek(raw) }
        case let .level(iterator): try iterator.seek(key)
        }
    }

    func seekToFirst() throws {
        switch self {
        case let .memory(cursor): cursor.seek([])
        case let .table(iterator): try iterator.seekToFirst()
        case let .level(iterator): try iterator.seekToFirst()
        }
    }

    func next() throws {
        switch self {
        case let .memory(cursor): cursor.next()
        case let .table(iterator): try iterator.next()
        case let .level(iterator): try iterator.next()
        }
    }
}

/// Merges sources listed newest first: for each key in order, the newest source's entry wins
/// and the older ones are skipped.
struct MergingIterator {
    var sources: [EntrySource]
    /// Index of the source holding the current (winning) entry.
    private(set) var winner = -1
    private(set) var key: [UInt8] = []

    init(_ sources: [EntrySource]) {
        self.sources = sources
    }

    var isValid: Bool { winner >= 0 }

    func withValue<T>(_ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        try sources[winner].withValue(body)
    }

    mutating func seek(_ start: [UInt8]) throws {
        for index in sources.indices { try sources[index].seek(start) }
        findWinner()
    }

    mutating func seekToFirst() throws {
        for index in sources.indices { try sources[index].seekToFirst() }
        findWinner()
    }

    private mutating func findWinner() {
        winner = -1
        for index in sources.indices where sources[index].isValid {
            if winner < 0 || KeyOrder.compare(sources[index].key, key) < 0 {
                winner = index
                key = sources[index].key
            }
        }
    }

    /// Moves past the current key in every source.
    mutating func next() throws {
        let current = key
        for index in sources.indices where sources[index].isValid && sources[index].key == current {
            try sources[index].next()
        }
        findWinner()
    }
}
