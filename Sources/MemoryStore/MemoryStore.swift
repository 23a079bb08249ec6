import StoreCore

/// The `memory` engine: every key in an in-memory B+tree (`OrderedKeyMap`), nothing on disk.
/// It is the oracle the conformance suite compares the other engines with, and the zero-I/O
/// baseline that shows how much of a measurement is the harness itself.
///
/// Opened on a directory it still takes the directory's lock and identity, so the harness treats
/// it like any engine (a second open fails as `locked`), but its data lives only as long as the
/// process: it is not persistent.
public final class MemoryStore: Store, @unchecked Sendable {
    public static let engineName = "memory"
    public static let formatVersion = 1

    public static let descriptor = EngineDescriptor(
        name: engineName,
        strategy: "in-memory ordered map (B+tree)",
        summary: "volatile oracle and zero-I/O baseline: measures the harness itself",
        isPersistent: false
    ) { directory, options in
        try MemoryStore(directory: directory, options: options)
    }

    public var engineName: String { Self.engineName }
    public let metrics = StoreMetrics()

    private let map = OrderedKeyMap<[UInt8]>()
    private var liveBytes = 0
    private var lockedDirectory: LockedDirectory?
    private var isOpen = true

    /// A store with no directory: the oracle for tests.
    public init() {}

    /// A store that holds `directory`'s lock while it is open.
    public init(directory: String, options: StoreOptions) throws {
        _ = try options.engineSettings(for: Self.engineName, known: [])
        lockedDirectory = try LockedDirectory.open(
            path: directory, engine: Self.engineName, formatVersion: Self.formatVersion,
            options: options, metrics: metrics)
    }

    deinit {
        lockedDirectory?.release()
    }

    @inline(__always)
    private func checkOpen() throws(StoreError) {
        if !isOpen { throw .closed }
    }

    public func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool {
        try checkOpen()
        guard let found = map.value(forKey: key) else { return false }
        value = found
        return true
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try checkOpen()
        try StoreLimits.check(keySize: key.count)
        try StoreLimits.check(valueSize: value.count)
        metrics.addUserBytes(key.count + value.count)
        store(key, value)
    }

    public func delete(_ key: [UInt8]) throws {
        try checkOpen()
        try StoreLimits.check(keySize: key.count)
        metrics.addUserBytes(key.count)
        remove(key)
    }

    public func apply(_ batch: WriteBatch) throws {
        try checkOpen()
        try batch.validate()
        metrics.addUserBytes(batch.userBytes)
        for operation in batch.operations {
            switch operation {
            case let .put(key, value): store(key, value)
            case let .delete(key): remove(key)
            }
        }
    }

    private func store(_ key: [UInt8], _ value: [UInt8]) {
        // Keep an exact-size copy: holding the caller's array would also hold its spare capacity
        // (a reused 4 KiB buffer behind a 100-byte value).
        let copy = value.withUnsafeBufferPointer { source in
            [UInt8](unsafeUninitializedCapacity: source.count) { buffer, count in
                if let base = source.baseAddress { buffer.baseAddress!.update(from: base, count: source.count) }
                count = source.count
            }
        }
        if let old = key.withUnsafeBytes({ map.replaceValue(copy, forKey: $0) }) ?? map.insert(copy, forKey: key) {
            liveBytes += value.count - old.count
        } else {
            liveBytes += key.count + value.count
        }
    }

    private func remove(_ key: [UInt8]) {
        if let old = map.removeValue(forKey: key) {
            liveBytes -= key.count + old.count
        }
    }

    @discardableResult
    public func scan(
        from start: [UInt8], limit: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        try checkOpen()
        var visited = 0
        guard limit > 0 else { return 0 }
        try map.forEach(from: start) { key, value in
            try value.withUnsafeBytes { value in try body(key, value) }
            visited += 1
            return visited < limit
        }
        return visited
    }

    public func sync() throws {
        try checkOpen()
    }

    public func compact() throws {
        try checkOpen()
    }

    public func close() throws {
        try checkOpen()
        isOpen = false
        lockedDirectory?.release()
        lockedDirectory = nil
    }

    public func statistics() throws -> StoreStatistics {
        try checkOpen()
        var statistics = try lockedDirectory?.directory.usage() ?? StoreStatistics()
        statistics.liveBytes = liveBytes
        statistics.deadBytes = 0
        statistics.keyCount = map.count
        return statistics
    }
}
