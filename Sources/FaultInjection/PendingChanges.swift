/// One change to a file's bytes that no successful sync has covered yet.
enum PendingFileChange: Sendable {
    case write(offset: Int, bytes: [UInt8])
    case truncate(length: Int)

    /// Applies the change to `bytes` (a write past the end fills the gap with zeros).
    func apply(to bytes: inout [UInt8]) {
        switch self {
        case let .write(offset, data): Self.write(data, at: offset, into: &bytes)
        case let .truncate(length):
            if length < bytes.count { bytes.removeSubrange(length...) } else { bytes += repeatElement(0, count: length - bytes.count) }
        }
    }

    static func write(_ data: some Collection<UInt8>, at offset: Int, into bytes: inout [UInt8]) {
        let end = offset + data.count
        if end > bytes.count { bytes += repeatElement(0, count: end - bytes.count) }
        bytes.replaceSubrange(offset..<end, with: data)
    }
}

/// One change to the directory's entries that no directory sync has covered yet.
enum PendingEntryChange: Sendable {
    case create(name: String, id: Int)
    case rename(from: String, to: String, id: Int)
    case unlink(name: String, id: Int)

    /// Applies the change to `names` when it can happen there: an undone create leaves nothing for
    /// a later rename or unlink of the same file to act on, so those are skipped too (a rename
    /// either happened or did not; it never half-happens).
    /// - Returns: whether it applied.
    @discardableResult
    func apply(to names: inout [String: Int]) -> Bool {
        switch self {
        case let .create(name, id):
            guard names[name] == nil else { return false }
            names[name] = id
        case let .rename(from, to, id):
            guard names[from] == id else { return false }
            names[from] = nil
            names[to] = id
        case let .unlink(name, id):
            guard names[name] == id else { return false }
            names[name] = nil
        }
        return true
    }
}

/// What the model knows about one file (by identity, so a rename carries it along): its bytes as
/// of its last successful sync and the changes made since.
struct TrackedFile: Sendable {
    var durable: [UInt8]
    var pending: [PendingFileChange] = []

    /// A successful sync: everything pending becomes durable.
    mutating func sync() {
        for change in pending { change.apply(to: &durable) }
        pending.removeAll()
    }

    /// All pending changes applied: what the file holds now.
    var current: [UInt8] {
        var bytes = durable
        for change in pending { change.apply(to: &bytes) }
        return bytes
    }
}
