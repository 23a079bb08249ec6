import StoreCore

/// Applies `ReplayControls` to a stream of operations, one at a time (a batch is held until its
/// `commit`, so that a batch left empty disappears whole).
///
/// - `scaleKeys` K: in the load phase a put writes all K copies of its key; afterwards each access
///   goes to one copy, chosen by a seeded hash of the key and the access's position, so every copy
///   gets 1/K of the key's accesses and the popularity curve keeps its shape over K times the keys.
/// - `sample` R: keeps the operations on keys whose seeded hash mod 2^24 is below R·2^24 (SHARDS),
///   so about a fraction R of the keys is replayed with all their accesses.
/// - `window`: keeps run-phase operations recorded within `[start, end)` seconds of the run
///   phase's first timed operation; untimed operations pass.
/// - `speed`: divides recorded times (from the first one) by the speed-up.
public struct ReplayTransform<Source: OperationSource>: OperationSource {
    public private(set) var source: Source
    public let controls: ReplayControls
    public let loadOperations: Int
    /// Operations read from the source so far.
    public private(set) var consumed = 0
    /// Operations left out by `sample` and by `window`; run-phase operations without a time.
    public private(set) var sampledOut = 0
    public private(set) var outsideWindow = 0
    public private(set) var untimed = 0
    private var pending: [WorkloadOperation] = []
    private var pendingIndex = 0
    private var batch: [WorkloadOperation] = []
    private var inBatch = false
    private var firstTimestamp: UInt64?
    private var firstRunTimestamp: UInt64?
    private let threshold: UInt64
    private var input = WorkloadOperation(.get)

    public init(_ source: Source, controls: ReplayControls, loadOperations: Int = 0) {
        self.source = source
        self.controls = controls
        self.loadOperations = loadOperations
        threshold = controls.sample.map { UInt64(($0 * Double(1 << 24)).rounded(.down)) } ?? (1 << 24)
    }

    /// The seeded 64-bit hash of a key (FNV-1a, then a SplitMix64 finalizer).
    @inline(__always)
    static func hash(_ key: [UInt8], seed: UInt64) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
        for byte in key { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return mix(hash)
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        while pendingIndex >= pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
            guard try source.next(into: &input) else {
                // A batch the source left open is replayed as far as it went.
                if inBatch {
                    inBatch = false
                    flushBatch(closing: nil)
                    if pendingIndex < pending.count { break }
                }
                return false
            }
            let position = consumed
            consumed += 1
            try admit(input, position: position)
        }
        operation = pending[pendingIndex]
        pendingIndex += 1
        return true
    }

    private mutating func admit(_ original: WorkloadOperation, position: Int) throws {
        var operation = original
        let isLoad = position < loadOperations
        if let timestamp = operation.timestamp {
            let first = firstTimestamp ?? timestamp
            firstTimestamp = first
            if !isLoad, let window = controls.window, operation.kind != .commit {
                let origin = firstRunTimestamp ?? timestamp
                firstRunTimestamp = origin
                let seconds = timestamp >= origin ? Double(timestamp - origin) / 1e6 : -Double(origin - timestamp) / 1e6
                if seconds < window.start || seconds >= window.end {
                    if operation.kind != .begin {
                        outsideWindow += 1
                        return
                    }
                }
            }
            if let speed = controls.speed, timestamp >= first {
                operation.timestamp = first + UInt64(min(Double(timestamp - first) / speed, 1.8e19))
            }
        } else if !isLoad && operation.kind != .begin && operation.kind != .commit {
            untimed += 1
        }
        switch operation.kind {
        case .begin:
            inBatch = true
            batch.removeAll(keepingCapacity: true)
            batch.append(operation)
            return
        case .commit:
            guard inBatch else { return }
            inBatch = false
            flushBatch(closing: operation)
            return
        default:
            break
        }
        if let sample = controls.sample, sample < 1, Self.hash(operation.key, seed: controls.seed) & 0xFF_FFFF >= threshold {
            sampledOut += 1
            return
        }
        if controls.scaleKeys > 1 {
            let base = operation.key
            if isLoad && operation.kind == .put {
                for copy in 0..<controls.scaleKeys {
                    operation.key = try Self.scaled(base, copy: copy)
                    emit(operation)
                }
                return
            }
            let copy = Int(Self.mix(Self.hash(base, seed: controls.seed) ^ UInt64(position)) % UInt64(controls.scaleKeys))
            operation.key = try Self.scaled(base, copy: copy)
        }
        emit(operation)
    }

    @inline(__always)
    private mutating func emit(_ operation: WorkloadOperation) {
        if inBatch { batch.append(operation) } else { pending.append(operation) }
    }

    /// Emits a held batch: its `begin`, what was kept, and `closing`, or nothing when none was kept.
    private mutating func flushBatch(closing: WorkloadOperation?) {
        guard batch.count > 1 else {
            batch.removeAll(keepingCapacity: true)
            return
        }
        pending.append(contentsOf: batch)
        pending.append(closing ?? WorkloadOperation(.commit, timestamp: batch.last?.timestamp))
        batch.removeAll(keepingCapacity: true)
    }

    /// `key#copy`.
    static func scaled(_ key: [UInt8], copy: Int) throws -> [UInt8] {
        var scaled = key
        scaled.append(UInt8(ascii: "#"))
        scaled.append(contentsOf: String(copy).utf8)
        guard scaled.count <= StoreLimits.maxKeySize else {
            throw StoreError.invalidArgument("--scale-keys: key of \(key.count) bytes with its copy suffix exceeds 64 KiB")
        }
        return scaled
    }
}

/// The first `count` operations of a source.
public struct PrefixSource<Source: OperationSource>: OperationSource {
    public private(set) var source: Source
    public private(set) var remaining: Int

    public init(_ source: Source, count: Int) {
        self.source = source
        remaining = count
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        guard remaining > 0, try source.next(into: &operation) else { return false }
        remaining -= 1
        return true
    }
}
