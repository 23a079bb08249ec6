import StoreCore

/// The entries of one memtable as of a snapshot, in key order, for merging: copied out in small
/// batches (each under the memtable's lock, briefly) into one reused buffer, so that a merge can
/// hold a position in it without holding the lock or allocating per entry.
final class MemtableCursor {
    let memtable: Memtable
    let snapshot: UInt64
    static let batch = 64

    /// The batch's keys and values end to end; per entry, where its key starts, the key's
    /// length and the value's length (-1 for a tombstone).
    private var bytes: [UInt8] = []
    private var entries: [(start: Int, keyLength: Int, valueLength: Int)] = []
    private var position = 0
    private var exhausted = false
    /// The key to resume after (a copy: the next fill reuses `bytes`).
    private var resumeKey: [UInt8] = []

    init(_ memtable: Memtable, snapshot: UInt64) {
        self.memtable = memtable
        self.snapshot = snapshot
    }

    var isValid: Bool { position < entries.count }

    func withKey<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let entry = entries[position]
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[entry.start..<(entry.start + entry.keyLength)])) }
    }

    /// The current value (`nil` for a tombstone), valid until the cursor moves.
    func withValue<T>(_ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        let entry = entries[position]
        guard entry.valueLength >= 0 else { return try body(nil) }
        let start = entry.start + entry.keyLength
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + entry.valueLength)])) }
    }

    private func fill(from start: UnsafeRawBufferPointer?, after: Bool) {
        bytes.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        position = 0
        memtable.forEach(from: start, after: after, snapshot: snapshot) { key, value in
            entries.append((bytes.count, key.count, value?.count ?? -1))
            bytes.append(contentsOf: key)
            if let value { bytes.append(contentsOf: value) }
            return entries.count < Self.batch
        }
        exhausted = entries.count < Self.batch
    }

    func seek(_ key: UnsafeRawBufferPointer) { fill(from: key, after: false) }

    func seekToFirst() { fill(from: nil, after: false) }

    func next() {
        position += 1
        guard position == entries.count && !exhausted else { return }
        // Resume after the batch's last key.
        let entry = entries[entries.count - 1]
        resumeKey.removeAll(keepingCapacity: true)
        resumeKey.append(contentsOf: bytes[entry.start..<(entry.start + entry.keyLength)])
        resumeKey.withUnsafeBytes { fill(from: $0, after: true) }
    }
}
