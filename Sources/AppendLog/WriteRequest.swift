import StoreCore

/// One commit waiting in the store's writer queue: the group leader encodes the commits of every
/// queued writer back to back and appends them with one pwrite. Each commit stays self-contained
/// on disk (a self-committing record, or a batch closed by its commit record), so recovery
/// replays a group commit by commit, and a torn group loses only whole commits at its tail.
///
/// The request points at the writer's own key, value or batch rather than holding copies: the
/// writer waits inside `GroupCommitQueue.commit` — inside the scope where these pointers are
/// valid — until the leader has written and published its request, so the leader reads them
/// only while they are valid. This keeps a request a plain value that the queue copies without
/// reference counting.
enum WriteRequest {
    case put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    case delete(key: UnsafeRawBufferPointer)
    case batch(UnsafePointer<WriteBatch>)

    /// Bytes the commit takes in a segment. With a tombstone file a delete takes none there,
    /// and a batch's commit record closes (and counts) only its puts; a batch of deletes alone
    /// has none.
    func encodedSize(_ format: RecordFormat, tombstoneFile: Bool) -> Int {
        switch self {
        case let .put(key, value):
            return format.putSize(keyCount: key.count, valueCount: value.count)
        case let .delete(key):
            return tombstoneFile ? 0 : format.deleteSize(keyCount: key.count)
        case let .batch(batch):
            var size = 0
            var records = 0
            for operation in batch.pointee.operations {
                switch operation {
                case let .put(key, value):
                    size += format.putSize(keyCount: key.count, valueCount: value.count)
                    records += 1
                case let .delete(key):
                    guard !tombstoneFile else { continue }
                    size += format.deleteSize(keyCount: key.count)
                    records += 1
                }
            }
            return records == 0 ? 0 : size + format.commitSize(count: records)
        }
    }

    /// Bytes the commit's deletes take in the tombstone file.
    var tombstoneSize: Int {
        switch self {
        case .put: return 0
        case let .delete(key): return TombstoneFile.recordSize(keyCount: key.count)
        case let .batch(batch):
            var size = 0
            for case let .delete(key) in batch.pointee.operations { size += TombstoneFile.recordSize(keyCount: key.count) }
            return size
        }
    }

    /// Key and value bytes the user asked to write, for the store's metrics (a delete counts its
    /// key when it is asked for, present or not).
    var userBytes: Int {
        switch self {
        case let .put(key, value): return key.count + value.count
        case .delete: return 0
        case let .batch(batch): return batch.pointee.userBytes
        }
    }

    /// Appends the commit's segment records to `buffer` (`encodedSize` bytes).
    func encode(into buffer: inout [UInt8], _ format: RecordFormat, tombstoneFile: Bool) {
        switch self {
        case let .put(key, value):
            format.appendPut(key: key, value: value, selfCommitting: true, to: &buffer)
        case let .delete(key):
            guard !tombstoneFile else { return }
            format.appendDelete(key: key, selfCommitting: true, to: &buffer)
        case let .batch(batch):
            var records = 0
            for operation in batch.pointee.operations {
                switch operation {
                case let .put(key, value):
                    key.withUnsafeBytes { key in
                        value.withUnsafeBytes { value in format.appendPut(key: key, value: value, selfCommitting: false, to: &buffer) }
                    }
                    records += 1
                case let .delete(key):
                    guard !tombstoneFile else { continue }
                    key.withUnsafeBytes { format.appendDelete(key: $0, selfCommitting: false, to: &buffer) }
                    records += 1
                }
            }
            if records > 0 { format.appendCommit(count: records, to: &buffer) }
        }
    }
}
