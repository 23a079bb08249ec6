import StoreCore

/// One input of a merge: an enum of final classes rather than a protocol, so merging neither
/// boxes nor copies an iterator's buffers.
enum EntrySource {
    case memory(MemtableCursor)
    case table(SSTIterator)
    case level(LevelIterator)

    var isValid: Bool {
        switch self {
        case let .memory(iterator): iterator.isValid
        case let .table(iterator): iterator.isValid
        case let .level(iterator): iterator.isValid
        }
    }

    /// Runs `body` on the current key (valid until the source moves).
    @inline(__always)
    func withKey<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        switch self {
        case let .memory(cursor): return try cursor.withKey(body)
        case let .table(iterator): return try iterator.withKey(body)
        case let .level(iterator): return try iterator.withKey(body)
        }
    }

    /// Runs `body` on the current value, `nil` for a tombstone.
    func withValue<T>(_ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        switch self {
        case let .memory(cursor): return try cursor.withValue(body)
        case let .table(iterator): return try iterator.withValue(body)
        case let .level(iterator): return try iterator.withValue(body)
        }
    }

    func seek(_ key: UnsafeRawBufferPointer) throws {
        switch self {
        case let .memory(iterator): iterator.seek(key)
        case let .table(iterator): try iterator.seek(key)
        case let .level(iterator): try iterator.seek(key)
        }
    }

    func seekToFirst() throws {
        switch self {
        case let .memory(iterator): iterator.seekToFirst()
        case let .table(iterator): try iterator.seekToFirst()
        case let .level(iterator): try iterator.seekToFirst()
        }
    }

    func next() throws {
        switch self {
        case let .memory(iterator): iterator.next()
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
    /// The current key (a copy, so it stays valid while the sources move past it).
    private(set) var key: [UInt8] = []
    /// Per source: whether it is positioned on the current key (found while finding the winner,
    /// so moving on compares nothing again).
    private var onKey: [Bool]

    init(_ sources: [EntrySource]) {
        self.sources = sources
        onKey = Array(repeating: false, count: sources.count)
    }

    var isValid: Bool { winner >= 0 }

    func withValue<T>(_ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        try sources[winner].withValue(body)
    }

    mutating func seek(_ start: [UInt8]) throws {
        try start.withUnsafeBytes { start in
            for index in sources.indices { try sources[index].seek(start) }
        }
        findWinner()
    }

    mutating func seekToFirst() throws {
        for index in sources.indices { try sources[index].seekToFirst() }
        findWinner()
    }

    /// The source with the smallest key; among equal keys the first (newest).
    private mutating func findWinner() {
        var best = -1
        for index in sources.indices {
            onKey[index] = false
            guard sources[index].isValid else { continue }
            if best < 0 {
                best = index
                onKey[index] = true
                continue
            }
            let order = sources[index].withKey { candidate in sources[best].withKey { KeyOrder.compare(candidate, $0) } }
            if order < 0 {
                for earlier in best..<index { onKey[earlier] = false }
                best = index
                onKey[index] = true
            } else if order == 0 {
                onKey[index] = true
            }
        }
        winner = best
        if best >= 0 {
            key.removeAll(keepingCapacity: true)
            sources[best].withKey { key.append(contentsOf: $0) }
        }
    }

    /// Moves past the current key in every source.
    mutating func next() throws {
        for index in sources.indices where onKey[index] { try sources[index].next() }
        findWinner()
    }
}
