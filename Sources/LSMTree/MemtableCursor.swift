import StoreCore

/// Entries of one memtable in key order, pulled in small copied batches so a merge can hold a
/// position in it (the memtable itself only offers a visiting loop).
final class MemtableCursor {
    let memtable: Memtable
    private var entries: [(key: [UInt8], value: [UInt8]?)] = []
    private var position = 0
    private var exhausted = false
    static let batch = 64

    init(_ memtable: Memtable) {
        self.memtable = memtable
    }

    var isValid: Bool { position < entries.count }
    var key: [UInt8] { entries[position].key }
    var value: [UInt8]? { entries[position].value }

    private func fill(from start: [UInt8], skippingEqual: Bool) {
        entries.removeAll(keepingCapacity: true)
        position = 0
        memtable.forEach(from: start) { key, value in
            if skippingEqual && KeyOrder.compare(start, key) == 0 { return true }
            entries.append((Array(key), value.map { Array($0) }))
            return entries.count < Self.batch
        }
        exhausted = entries.count < Self.batch
    }

    func seek(_ key: [UInt8]) { fill(from: key, skippingEqual: false) }

    func next() {
        position += 1
        if position == entries.count && !exhausted, let last = entries.last?.key {
            fill(from: last, skippingEqual: true)
        }
    }
}
