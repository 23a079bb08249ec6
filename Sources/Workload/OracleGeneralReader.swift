import StoreCore

/// What a cache trace's requests become.
public enum CacheMapping: String, Sendable, CaseIterable {
    /// Every request is a get (against a store that holds nothing, every get misses).
    case reads
    /// Every request is a get; the first request for an object also puts `obj_size` bytes after
    /// it, as a cache fills itself on a miss. The store never evicts, so the first access is the
    /// only miss a replay sees. Remembers every object id (8 bytes each, plus hashing overhead).
    case cache
}

/// Reads libCacheSim's `oracleGeneral` binary traces: packed little-endian records of
/// `uint32 clock_time; uint64 obj_id; uint32 obj_size; int64 next_access_vtime` (24 bytes), as
/// libCacheSim's oracleGeneralBin reader defines them. Keys are the object id as 8 big-endian
/// bytes, value sizes the object size, times `clock_time` seconds. `next_access_vtime` is an
/// oracle for cache policies; replay has no use for it.
public struct OracleGeneralReader: OperationSource {
    public static let recordSize = 24
    public let path: String
    public let mapping: CacheMapping
    public private(set) var bad: BadRecords
    private var window: StreamWindow
    private var offset: Int64 = 0
    private var seen: Set<UInt64> = []
    /// The put that follows a miss (`cache` mapping), emitted on the next call.
    private var pendingPut: (id: UInt64, size: Int, timestamp: UInt64)?
    private var ended = false

    public init(source: ByteSource, mapping: CacheMapping = .reads, bad: BadRecords = BadRecords()) {
        path = source.path
        self.mapping = mapping
        self.bad = bad
        window = StreamWindow(source: source)
    }

    @inline(__always)
    private static func fill(_ operation: inout WorkloadOperation, _ kind: WorkloadOperation.Kind, id: UInt64, size: Int, timestamp: UInt64) {
        operation.kind = kind
        operation.key.removeAll(keepingCapacity: true)
        withUnsafeBytes(of: id.bigEndian) { operation.key.append(contentsOf: $0) }
        operation.valueSize = kind == .put ? size : 0
        operation.value = nil
        operation.scanCount = 0
        operation.timestamp = timestamp
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        if let put = pendingPut {
            pendingPut = nil
            Self.fill(&operation, .put, id: put.id, size: put.size, timestamp: put.timestamp)
            return true
        }
        while !ended {
            guard try window.ensure(offset, Self.recordSize) else {
                let left = window.available(from: offset)
                ended = true
                guard left == 0 else {
                    try bad.skip(.malformedTrace(
                        file: path, offset: offset,
                        reason: "the input ends inside a record (\(left) of \(Self.recordSize) bytes): its size is not a multiple of \(Self.recordSize)"))
                    return false
                }
                return false
            }
            let (clock, id, size) = window.withBytes(offset, Self.recordSize) { raw in
                (raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian,
                 raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self).littleEndian,
                 Int(raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian))
            }
            let at = offset
            offset += Int64(Self.recordSize)
            guard size <= StoreLimits.maxValueSize else {
                try bad.skip(.malformedTrace(file: path, offset: at, reason: "object size \(size) exceeds 64 MiB"))
                continue
            }
            let timestamp = UInt64(clock) * 1_000_000
            Self.fill(&operation, .get, id: id, size: 0, timestamp: timestamp)
            if mapping == .cache, seen.insert(id).inserted {
                pendingPut = (id, size, timestamp)
            }
            return true
        }
        return false
    }
}
