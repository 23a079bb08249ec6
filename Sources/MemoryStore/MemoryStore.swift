import StoreCore

/// The `memory` engine: every key in an in-memory B+tree (`OrderedKeyMap`), nothing on disk.
/// It is the oracle the conformance suite compares the other engines with, and the zero-I/O
/// baseline that shows how much of a measurement is the harness itself.
///
/// Opened on a directory it still takes the directory's lock and identity, so the harness treats
/// it like any engine (a second open fails as `locked`), but its data lives only as long as the
/// process: it is not persistent.
///
/// Concurrency: the map sits under a writer-preferring reader-writer lock — readers (gets, scans)
/// run in parallel, a writer (put, delete, a whole batch) holds it alone for the in-memory update
/// only. It is the baseline that shows what the harness costs at N threads with no I/O.
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
    /// Guards `map`, `liveBytes`, `lockedDirectory` and `isOpen`.
    private let lock = ReadWriteLock()
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
        lock.lockShared()
        defer { lock.unlock() }
        try checkOpen()
        // Copy into the caller's buffer like every engine does (sharing the stored array would
        // make `memory` reads free and its baseline too low).
        return key.withUnsafeBytes { key in
            map.withValue(forKey: key) { found in
                guard let found else { return false }
                value.removeAll(keepingCapacity: true)
                found.pointee.withUnsafeBytes { value.append(contentsOf: $0) }
                return true
            }
        }
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        try StoreLimits.check(valueSize: value.count)
        let copy = Self.exactCopy(value)
        lock.lockExclusive()
        defer { lock.unlock() }
        try checkOpen()
        metrics.addUserBytes(key.count + value.count)
        store(key, copy)
    }

    public func delete(_ key: [UInt8]) throws {
        try StoreLimits.check(keySize: key.count)
        lock.lockExclusive()
        defer { lock.unlock() }
        try checkOpen()
        metrics.addUserBytes(key.count)
        remove(key)
    }

    public func apply(_ batch: WriteBatch) throws {
        try batch.validate()
        lock.lockExclusive()
        defer { lock.unlock() }
        try checkOpen()
        metrics.addUserBytes(batch.userBytes)
        for operation in batch.operations {
            switch operation {
            case let .put(key, value): store(key, Self.exactCopy(value))
            case let .delete(key): remove(key)
            }
        }
    }

    /// An exact-size copy: holding the caller's array would also hold its spare capacity (a reused
    /// 4 KiB buffer behind a 100-byte value). Made before taking the lock.
    private static func exactCopy(_ value: [UInt8]) -> [UInt8] {
        value.withUnsafeBufferPointer { source in
            [UInt8](unsafeUninitializedCapacity: source.count) { buffer, count in
                if let base = source.baseAddress { buffer.baseAddress!.update(from: base, count: source.count) }
                count = source.count
            }
        }
    }

    /// Call holding the lock exclusively.
    private func store(_ key: [UInt8], _ copy: [UInt8]) {
        if let old = key.withUnsafeBytes({ map.replaceValue(copy, forKey: $0) }) ?? map.insert(copy, forKey: key) {
            liveBytes += copy.count - old.count
        } else {
            liveBytes += key.count + copy.count
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
        // The whole scan holds the shared lock: it sees one state, so never part of a batch.
        lock.lockShared()
        defer { lock.unlock() }
        try checkOpen()
        var visited = 0
        guard limit > 0 else { return 0 }
        try start.withUnsafeBytes { start in
            try map.forEachEntry(from: start) { key, value in
                try value.pointee.withUnsafeBytes { value in try body(key, value) }
                visited += 1
                return visited < limit
            }
        }
        return visited
    }

    public func sync() throws {
        try lock.withSharedLock { try checkOpen() }
    }

    public func compact() throws {
        try lock.withSharedLock { try checkOpen() }
    }

    public func close() throws {
        lock.lockExclusive()
        defer { lock.unlock() }
        try checkOpen()
        isOpen = false
        lockedDirectory?.release()
        lockedDirectory = nil
    }

    public func statistics() throws -> StoreStatistics {
        lock.lockShared()
        defer { lock.unlock() }
        try checkOpen()
        var statistics = try lockedDirectory?.directory.usage() ?? StoreStatistics()
        statistics.liveBytes = liveBytes
        statistics.deadBytes = 0
        statistics.keyCount = map.count
        return statistics
    }
}
