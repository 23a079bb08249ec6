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

    /// Size of the commit record that closes a batch (header and its 4-byte count).
    static let commitRecordSize = LogRecord.headerSize + 4

    /// Bytes the commit takes in a segment.
    var encodedSize: Int {
        switch self {
        case let .put(key, value):
            return LogRecord.size(keyCount: key.count, valueCount: value.count)
        case let .delete(key):
            return LogRecord.size(keyCount: key.count, valueCount: 0)
        case let .batch(batch):
            var size = Self.commitRecordSize
            for operation in batch.pointee.operations {
                switch operation {
                case let .put(key, value): size += LogRecord.size(keyCount: key.count, valueCount: value.count)
                case let .delete(key): size += LogRecord.size(keyCount: key.count, valueCount: 0)
                }
            }
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

    /// Appends the commit's records to `buffer`.
    func encode(into buffer: inout [UInt8]) {
        switch self {
        case let .put(key, value):
            LogRecord.append(.put, selfCommitting: true, key: key, value: value, to: &buffer)
        case let .delete(key):
            LogRecord.append(.delete, selfCommitting: true, key: key, value: UnsafeRawBufferPointer(start: nil, count: 0), to: &buffer)
        case let .batch(batch):
            for operation in batch.pointee.operations {
                switch operation {
                case let .put(key, value):
                    LogRecord.append(.put, selfCommitting: false, key: key, value: value, to: &buffer)
                case let .delete(key):
                    LogRecord.append(.delete, selfCommitting: false, key: key, value: [], to: &buffer)
                }
            }
            LogRecord.appendCommit(count: batch.pointee.count, to: &buffer)
        }
    }
}
