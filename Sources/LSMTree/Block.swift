import StoreCore

/// Builds an SST block: entries with the key prefix they share with the previous entry cut off,
/// and a full key every `restartInterval` entries (a restart point, for binary search).
///
///     entry: shared varint | unshared varint | value field varint (0 = tombstone, else length + 1)
///            | key bytes past the shared prefix | value
///     trailer: restart offsets u32 × n | n u32
struct BlockBuilder {
    let restartInterval: Int
    private(set) var buffer: [UInt8] = []
    private var restarts: [UInt32] = [0]
    private var counter = 0
    private(set) var lastKey: [UInt8] = []
    private(set) var entries = 0

    init(restartInterval: Int) {
        self.restartInterval = restartInterval
    }

    var isEmpty: Bool { entries == 0 }
    var estimatedSize: Int { buffer.count + restarts.count * 4 + 4 }

    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) {
        var shared = 0
        if counter < restartInterval {
            let limit = min(lastKey.count, key.count)
            while shared < limit && lastKey[shared] == key[shared] { shared += 1 }
        } else {
            restarts.append(UInt32(buffer.count))
            counter = 0
        }
        buffer.appendVarint(UInt64(shared))
        buffer.appendVarint(UInt64(key.count - shared))
        buffer.appendVarint(value.map { UInt64($0.count) + 1 } ?? 0)
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        if let value { buffer.append(contentsOf: value) }
        lastKey.removeSubrange(shared...)
        lastKey.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        counter += 1
        entries += 1
    }

    /// The finished block; the builder is reset.
    mutating func finish() -> [UInt8] {
        for restart in restarts { buffer.appendFixed32(restart) }
        buffer.appendFixed32(UInt32(restarts.count))
        let block = buffer
        buffer.removeAll(keepingCapacity: true)
        restarts = [0]
        counter = 0
        lastKey.removeAll(keepingCapacity: true)
        entries = 0
        return block
    }
}

/// A verified block in memory.
final class Block: Sendable {
    let bytes: [UInt8]
    /// Where the restart array starts (the end of the entries).
    let restartsOffset: Int
    let restartCount: Int

    init(bytes: [UInt8], path: String, offset: Int64) throws {
        guard bytes.count >= 4 else {
            throw StoreError.corrupted(file: path, offset: offset, reason: "block of \(bytes.count) bytes has no restart count")
        }
        let count = Int(UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8
            | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24)
        guard count >= 1, count <= (bytes.count - 4) / 4 else {
            throw StoreError.corrupted(file: path, offset: offset, reason: "block restart count \(count) does not fit its \(bytes.count) bytes")
        }
        self.bytes = bytes
        restartCount = count
        restartsOffset = bytes.count - 4 - 4 * count
    }

    func restart(_ index: Int) -> Int {
        let at = restartsOffset + 4 * index
        return Int(UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24)
    }

    enum Found: Equatable {
        case absent, deleted
        /// The value's range in `bytes`.
        case value(Range<Int>)
    }

    /// The entry whose key equals `target`, for a get: a binary search of the restart points
    /// (whose keys are stored whole), then a walk that compares each key's new suffix with the
    /// target in place — no key is rebuilt or copied.
    /// `file` names the block's file in errors (its path is read only then).
    func find(_ target: UnsafeRawBufferPointer, file: DurableFile, blockOffset: Int64) throws -> Found {
        try bytes.withUnsafeBytes { raw -> Found in
            let entries = UnsafeRawBufferPointer(rebasing: raw[0..<restartsOffset])
            func corrupt(_ at: Int, _ reason: String) -> StoreError {
                .corrupted(file: file.path, offset: blockOffset + Int64(at), reason: "block entry: \(reason)")
            }
            // The last restart point whose key is below the target.
            var low = 0
            var high = restartCount - 1
            while low < high {
                let middle = (low + high + 1) / 2
                let offset = restart(middle)
                var reader = ByteReader(entries, offset: offset)
                guard offset < restartsOffset, reader.readLength(limit: 0) != nil, let unshared = reader.readLength(limit: restartsOffset),
                      reader.readLength(limit: restartsOffset + 1) != nil, let key = reader.readBytes(unshared) else {
                    throw corrupt(offset, "restart point \(middle) does not start a whole key")
                }
                if KeyOrder.compare(key, target) < 0 { low = middle } else { high = middle - 1 }
            }
            var reader = ByteReader(entries, offset: restart(low))
            guard reader.offset == 0 || reader.offset < restartsOffset else {
                throw corrupt(restartsOffset + 4 * low, "restart point \(low) lies past the entries")
            }
            // Bytes the previous key shares with the target, and the previous key's length.
            var matched = 0
            var previousLength = 0
            while !reader.isAtEnd {
                let start = reader.offset
                guard let shared = reader.readLength(limit: previousLength), let unshared = reader.readLength(limit: restartsOffset),
                      let valueField = reader.readLength(limit: restartsOffset + 1), let suffix = reader.readBytes(unshared) else {
                    throw corrupt(start, "header or key cut short")
                }
                let valueStart = reader.offset
                if valueField > 0 {
                    guard reader.skip(valueField - 1) else { throw corrupt(start, "value cut short") }
                }
                previousLength = shared + unshared
                // Past the byte where the previous key fell below the target, this key is below too.
                if shared > matched { continue }
                // The first `shared` bytes equal the target's: compare the rest.
                var common = 0
                let rest = target.count - shared
                let limit = min(rest, unshared)
                while common < limit && suffix[common] == target[shared + common] { common += 1 }
                if common == limit {
                    if unshared == rest {
                        return valueField == 0 ? .deleted : .value(valueStart..<(valueStart + valueField - 1))
                    }
                    if unshared > rest { return .absent }  // the target is a prefix of this key
                } else if suffix[common] > target[shared + common] {
                    return .absent
                }
                matched = shared + common
            }
            return .absent
        }
    }
}

/// A cursor over one block's entries.
struct BlockCursor {
    let block: Block
    let path: String
    let blockOffset: Int64
    /// Offset of the current entry, and of the next one.
    private(set) var current = 0
    private(set) var next = 0
    var key: [UInt8] = []
    /// The value's range in `block.bytes`, or nil for a tombstone.
    var valueRange: Range<Int>?
    var isValid: Bool { current < block.restartsOffset && valid }
    private var valid = false

    init(block: Block, path: String, blockOffset: Int64) {
        self.block = block
        self.path = path
        self.blockOffset = blockOffset
    }

    private func corrupt(_ at: Int, _ reason: String) -> StoreError {
        .corrupted(file: path, offset: blockOffset + Int64(at), reason: "block entry: \(reason)")
    }

    /// Decodes the entry at `next`; false at the end of the block.
    mutating func advance() throws -> Bool {
        current = next
        guard current < block.restartsOffset else {
            valid = false
            return false
        }
        let limit = block.restartsOffset
        try block.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[0..<limit]), offset: current)
            guard let shared = reader.readLength(limit: key.count),
                  let unshared = reader.readLength(limit: limit),
                  let valueField = reader.readLength(limit: limit + 1),
                  let suffix = reader.readBytes(unshared) else {
                throw corrupt(current, "header or key cut short")
            }
            key.removeSubrange(shared...)
            key.append(contentsOf: suffix)
            if valueField == 0 {
                valueRange = nil
            } else {
                let start = reader.offset
                guard reader.skip(valueField - 1) else { throw corrupt(current, "value cut short") }
                valueRange = start..<(start + valueField - 1)
            }
            next = reader.offset
        }
        valid = true
        return true
    }

    /// Positions at the first entry with key ≥ `target`; false when there is none in the block.
    mutating func seek(_ target: UnsafeRawBufferPointer) throws -> Bool {
        // Binary search the restart points (their keys are stored whole).
        var low = 0
        var high = block.restartCount - 1
        while low < high {
            let middle = (low + high + 1) / 2
            try startAtRestart(middle)
            guard try advance() else { throw corrupt(next, "restart point past the entries") }
            if KeyOrder.compare(key, target) < 0 { low = middle } else { high = middle - 1 }
        }
        try startAtRestart(low)
        while try advance() {
            if KeyOrder.compare(key, target) >= 0 { return true }
        }
        return false
    }

    /// Makes restart point `index` the next entry to decode.
    private mutating func startAtRestart(_ index: Int) throws {
        let offset = block.restart(index)
        guard offset == 0 || offset < block.restartsOffset else {
            throw corrupt(block.restartsOffset + 4 * index, "restart point \(index) at \(offset) lies past the entries")
        }
        next = offset
        key.removeAll(keepingCapacity: true)
    }

    mutating func seekToFirst() throws -> Bool {
        next = 0
        key.removeAll(keepingCapacity: true)
        return try advance()
    }
}
