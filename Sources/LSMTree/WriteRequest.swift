import StoreCore

/// What a caller hands the store's writer queue. The leader of a group writes the WAL records of
/// all its commits with one write (and one sync), then applies them to the memtable.
enum WriteRequest {
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])
    case batch(WriteBatch)
    /// `sync()`: the group's leader syncs the WAL after writing.
    case sync
    /// Work that needs the WAL and the memtable to itself (a memtable switch for `compact()`,
    /// `close()`, a simulated crash). It always forms a group of its own, led by its caller.
    case exclusive

    /// Per-operation overhead counted in a request's weight (the queue caps a group's weight).
    static let operationWeight = 16

    var isCommit: Bool {
        switch self {
        case .put, .delete, .batch: true
        case .sync, .exclusive: false
        }
    }

    var isExclusive: Bool {
        if case .exclusive = self { return true }
        return false
    }

    var userBytes: Int {
        switch self {
        case let .put(key, value): key.count + value.count
        case let .delete(key): key.count
        case let .batch(batch): batch.userBytes
        case .sync, .exclusive: 0
        }
    }

    /// The commit's WAL record (see `CommitRecord`) in `buffer`, replacing what was there.
    func encode(sequence: UInt64, into buffer: inout [UInt8]) {
        switch self {
        case let .put(key, value):
            CommitRecord.encodeHeader(sequence: sequence, count: 1, into: &buffer)
            key.withUnsafeBytes { key in value.withUnsafeBytes { CommitRecord.appendPut(key, $0, to: &buffer) } }
        case let .delete(key):
            CommitRecord.encodeHeader(sequence: sequence, count: 1, into: &buffer)
            key.withUnsafeBytes { CommitRecord.appendDelete($0, to: &buffer) }
        case let .batch(batch):
            CommitRecord.encodeHeader(sequence: sequence, count: batch.count, into: &buffer)
            for operation in batch.operations {
                switch operation {
                case let .put(key, value):
                    key.withUnsafeBytes { key in value.withUnsafeBytes { CommitRecord.appendPut(key, $0, to: &buffer) } }
                case let .delete(key):
                    key.withUnsafeBytes { CommitRecord.appendDelete($0, to: &buffer) }
                }
            }
        case .sync, .exclusive:
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Adds the commit's operations to `memtable` as commit `sequence` (between its
    /// `beginWrite` and `endWrite`).
    func apply(to memtable: Memtable, sequence: UInt64) {
        switch self {
        case let .put(key, value):
            key.withUnsafeBytes { key in value.withUnsafeBytes { memtable.put(key, $0, sequence: sequence) } }
        case let .delete(key):
            key.withUnsafeBytes { memtable.delete($0, sequence: sequence) }
        case let .batch(batch):
            for operation in batch.operations {
                switch operation {
                case let .put(key, value):
                    key.withUnsafeBytes { key in value.withUnsafeBytes { memtable.put(key, $0, sequence: sequence) } }
                case let .delete(key):
                    key.withUnsafeBytes { memtable.delete($0, sequence: sequence) }
                }
            }
        case .sync, .exclusive:
            return
        }
        memtable.noteCommit(sequence)
    }
}
