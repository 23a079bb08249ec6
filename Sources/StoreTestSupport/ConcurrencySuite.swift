import StoreCore
import Synchronization

/// The concurrency contract of `Store` (see its doc comment), checked against one engine by
/// driving one store instance from several threads at once. Each case runs in its own scratch
/// directory and throws `ConformanceFailure` naming what it saw.
///
/// Values written by these cases are self-describing (`TaggedValue`): a reader can tell a value
/// that was never written — or one torn from two writes — from a real one without an oracle.
public struct ConcurrencySuite: Sendable {
    public enum Case: String, CaseIterable, Sendable, CustomStringConvertible {
        /// Writers on disjoint keys (puts, deletes, batches) lose nothing.
        case disjointWriters
        /// Readers (gets and scans) never see part of a batch, nor a value never written.
        case noTornBatches
        /// A commit acknowledged to one thread is visible to every read that starts afterwards.
        case acknowledgedCommitsVisible
        /// Scans during writes stay in ascending key order and within their limit.
        case scansOrderedDuringWrites
        /// Durable writers from several threads: after reopen, every acknowledged commit is there.
        case concurrentWritersPersist
        /// `close()` while other threads are in calls: they finish or throw `closed`, no crash.
        case closeWhileBusy

        public var description: String { rawValue }
    }

    public let engine: EngineDescriptor
    public let options: StoreOptions
    /// Threads per role (writers, readers).
    public let threads: Int
    /// Operations per thread, scaled per case.
    public let operations: Int

    public init(engine: EngineDescriptor, options: StoreOptions = StoreOptions(durability: .none), threads: Int = 4, operations: Int = 2_000) {
        self.engine = engine
        self.options = options
        self.threads = max(2, threads)
        self.operations = max(100, operations)
    }

    public func run(_ testCase: Case) throws -> ConformanceSuite.Outcome {
        if testCase == .concurrentWritersPersist && !engine.isPersistent {
            return .notApplicable("`\(engine.name)` does not persist data across reopen")
        }
        let scratch = try ScratchDirectory("\(engine.name)-concurrent-\(testCase.rawValue)")
        defer { scratch.remove() }
        let directory = scratch.child("store")
        switch testCase {
        case .disjointWriters: try disjointWriters(directory)
        case .noTornBatches: try noTornBatches(directory)
        case .acknowledgedCommitsVisible: try acknowledgedCommitsVisible(directory)
        case .scansOrderedDuringWrites: try scansOrderedDuringWrites(directory)
        case .concurrentWritersPersist: try concurrentWritersPersist(directory)
        case .closeWhileBusy: try closeWhileBusy(directory)
        }
        return .passed
    }

    // MARK: Cases

    func disjointWriters(_ directory: String) throws {
        let store = try engine.open(directory, options)
        defer { try? store.close() }
        let keysPerThread = operations / 4
        try ConcurrentThreads.run(threads) { thread in
            var random = SeededRandom(seed: 0xD15_0000 &+ UInt64(thread))
            // Each thread ends with key i present (tag = last version) unless i % 5 == 0 (deleted).
            for round in 0..<4 {
                var index = 0
                while index < keysPerThread {
                    if random.next() % 4 == 0 {
                        var batch = WriteBatch()
                        let end = min(keysPerThread, index + 1 + Int(random.next() % 8))
                        for i in index..<end {
                            batch.put(TaggedValue.key(thread, i), TaggedValue(group: thread, slot: i, generation: UInt64(round)).bytes)
                        }
                        try store.apply(batch)
                        index = end
                    } else {
                        try store.put(TaggedValue.key(thread, index), TaggedValue(group: thread, slot: index, generation: UInt64(round)).bytes)
                        index += 1
                    }
                }
            }
            for i in stride(from: 0, to: keysPerThread, by: 5) { try store.delete(TaggedValue.key(thread, i)) }
        }
        var expected: [[UInt8]: [UInt8]] = [:]
        for thread in 0..<threads {
            for i in 0..<keysPerThread where i % 5 != 0 {
                expected[TaggedValue.key(thread, i)] = TaggedValue(group: thread, slot: i, generation: 3).bytes
            }
        }
        for (key, value) in expected {
            try expectEqual(try store.get(key), value, "key \(hex(key)) after concurrent writers")
        }
        let all = try store.scan(from: [], limit: Int.max)
        try expectEqual(all.count, expected.count, "entries after concurrent writers")
        for entry in all {
            try expectEqual(expected[entry.key], entry.value, "scanned entry \(hex(entry.key))")
        }
    }

    /// Each writer owns groups of `slots` keys and rewrites a whole group in one batch with a new
    /// generation. Readers get the keys of a group in slot order: generations never go backwards
    /// (a batch is never half-visible), and a scan of a group sees one generation for all of it.
    func noTornBatches(_ directory: String) throws {
        let store = try engine.open(directory, options)
        defer { try? store.close() }
        let slots = 6
        let groupsPerWriter = 8
        let writers = max(1, threads / 2)
        let readers = max(1, threads - writers)
        let groups = writers * groupsPerWriter
        for group in 0..<groups {
            var batch = WriteBatch()
            for slot in 0..<slots { batch.put(TaggedValue.key(group, slot), TaggedValue(group: group, slot: slot, generation: 0).bytes) }
            try store.apply(batch)
        }
        let finished = SharedCounter()
        try ConcurrentThreads.run(writers + readers) { thread in
            if thread < writers {
                defer { finished.increment() }
                var random = SeededRandom(seed: 0x7042 &+ UInt64(thread))
                var generations = [UInt64](repeating: 0, count: groupsPerWriter)
                for _ in 0..<operations {
                    let local = Int(random.next() % UInt64(groupsPerWriter))
                    let group = thread * groupsPerWriter + local
                    generations[local] += 1
                    var batch = WriteBatch()
                    for slot in 0..<slots {
                        batch.put(TaggedValue.key(group, slot), TaggedValue(group: group, slot: slot, generation: generations[local]).bytes)
                    }
                    try store.apply(batch)
                }
                return
            }
            var random = SeededRandom(seed: 0x4EAD &+ UInt64(thread))
            var value: [UInt8] = []
            var rounds = 0
            while finished.value < writers || rounds < 20 {
                rounds += 1
                let group = Int(random.next() % UInt64(groups))
                if random.next() % 2 == 0 {
                    var lowest: UInt64 = 0
                    for slot in 0..<slots {
                        let key = TaggedValue.key(group, slot)
                        try expect(try store.get(key, into: &value), "key \(hex(key)) of a group is never missing")
                        let tag = try TaggedValue.parse(value, key: key)
                        try expect(tag.generation >= lowest, "get of \(hex(key)) saw generation \(tag.generation) after slot \(slot - 1) had \(lowest): a batch was seen half-applied")
                        lowest = tag.generation
                    }
                } else {
                    var seen: [TaggedValue] = []
                    var keys: [[UInt8]] = []
                    try store.scan(from: TaggedValue.key(group, 0), limit: slots) { key, value in
                        keys.append(Array(key))
                        seen.append(try TaggedValue.parse(Array(value), key: Array(key)))
                    }
                    try expectEqual(seen.count, slots, "a scan over group \(group) sees all its keys")
                    try expect(seen.allSatisfy { $0.group == group }, "a scan over group \(group) sees only its keys")
                    let generations = Set(seen.map(\.generation))
                    try expect(generations.count == 1, "a scan over group \(group) saw generations \(generations.sorted()): a batch was seen half-applied")
                }
            }
        }
    }

    /// A writer puts increasing versions of one key per thread and publishes each version after
    /// the put returned; readers that load a published version must then read at least it.
    func acknowledgedCommitsVisible(_ directory: String) throws {
        let store = try engine.open(directory, options)
        defer { try? store.close() }
        let writers = max(1, threads / 2)
        let readers = max(1, threads - writers)
        let published = SharedVersions(writers)
        let finished = SharedCounter()
        try ConcurrentThreads.run(writers + readers) { thread in
            if thread < writers {
                defer { finished.increment() }
                for version in 1...UInt64(operations) {
                    try store.put(TaggedValue.key(thread, 0), TaggedValue(group: thread, slot: 0, generation: version).bytes)
                    published.set(thread, version)
                }
                return
            }
            var random = SeededRandom(seed: 0xAC4 &+ UInt64(thread))
            var value: [UInt8] = []
            while finished.value < writers {
                let writer = Int(random.next() % UInt64(writers))
                let acknowledged = published.get(writer)
                guard acknowledged > 0 else { continue }
                let key = TaggedValue.key(writer, 0)
                try expect(try store.get(key, into: &value), "an acknowledged put of \(hex(key)) is visible")
                let tag = try TaggedValue.parse(value, key: key)
                try expect(tag.generation >= acknowledged, "get of \(hex(key)) returned version \(tag.generation) after version \(acknowledged) was acknowledged")
            }
        }
    }

    func scansOrderedDuringWrites(_ directory: String) throws {
        let store = try engine.open(directory, options)
        defer { try? store.close() }
        let keySpace = 2_000
        for i in stride(from: 0, to: keySpace, by: 2) {
            try store.put(TaggedValue.key(0, i), TaggedValue(group: 0, slot: i, generation: 0).bytes)
        }
        let writers = max(1, threads / 2)
        let finished = SharedCounter()
        try ConcurrentThreads.run(threads) { thread in
            var random = SeededRandom(seed: 0x5CA2 &+ UInt64(thread))
            if thread < writers {
                defer { finished.increment() }
                for n in 0..<operations {
                    let slot = Int(random.next() % UInt64(keySpace))
                    if random.next() % 3 == 0 {
                        try store.delete(TaggedValue.key(0, slot))
                    } else {
                        try store.put(TaggedValue.key(0, slot), TaggedValue(group: 0, slot: slot, generation: UInt64(n + 1)).bytes)
                    }
                }
                return
            }
            while finished.value < writers {
                let start = Int(random.next() % UInt64(keySpace))
                let limit = 1 + Int(random.next() % 64)
                var previous: [UInt8]?
                let startKey = TaggedValue.key(0, start)
                let visited = try store.scan(from: startKey, limit: limit) { key, value in
                    let key = Array(key)
                    if let previous {
                        try expect(KeyOrder.less(previous, key), "scan order: \(hex(previous)) came before \(hex(key))")
                    } else {
                        try expect(!KeyOrder.less(key, startKey), "scan from \(hex(startKey)) returned the smaller key \(hex(key))")
                    }
                    _ = try TaggedValue.parse(Array(value), key: key)
                    previous = key
                }
                try expect(visited <= limit, "scan visited \(visited) entries with limit \(limit)")
            }
        }
    }

    func concurrentWritersPersist(_ directory: String) throws {
        var durable = options
        durable.durability = .always
        let store = try engine.open(directory, durable)
        let perThread = max(50, operations / 10)
        try ConcurrentThreads.run(threads) { thread in
            for i in 0..<perThread {
                if i % 7 == 0 {
                    var batch = WriteBatch()
                    batch.put(TaggedValue.key(thread, i), TaggedValue(group: thread, slot: i, generation: 1).bytes)
                    batch.put(TaggedValue.key(thread, i + perThread), TaggedValue(group: thread, slot: i + perThread, generation: 1).bytes)
                    try store.apply(batch)
                } else {
                    try store.put(TaggedValue.key(thread, i), TaggedValue(group: thread, slot: i, generation: 1).bytes)
                }
            }
        }
        try store.close()
        let reopened = try engine.open(directory, options)
        defer { try? reopened.close() }
        for thread in 0..<threads {
            for i in 0..<perThread {
                let key = TaggedValue.key(thread, i)
                try expectEqual(try reopened.get(key), TaggedValue(group: thread, slot: i, generation: 1).bytes, "acknowledged put of \(hex(key)) after reopen")
                if i % 7 == 0 {
                    let pair = TaggedValue.key(thread, i + perThread)
                    try expectEqual(try reopened.get(pair), TaggedValue(group: thread, slot: i + perThread, generation: 1).bytes, "second key of an acknowledged batch after reopen")
                }
            }
        }
    }

    func closeWhileBusy(_ directory: String) throws {
        let store = try engine.open(directory, options)
        for i in 0..<500 { try store.put(TaggedValue.key(0, i), TaggedValue(group: 0, slot: i, generation: 0).bytes) }
        let started = SharedCounter()
        let workers = threads
        try ConcurrentThreads.run(workers + 1) { thread in
            if thread == workers {
                while started.value < workers { ConcurrentThreads.yield() }
                // Let the others get well into their calls.
                for _ in 0..<2_000 { ConcurrentThreads.yield() }
                try store.close()
                return
            }
            started.increment()
            var random = SeededRandom(seed: 0xC105E &+ UInt64(thread))
            var value: [UInt8] = []
            var n: UInt64 = 0
            while true {
                n += 1
                let slot = Int(random.next() % 500)
                do {
                    switch random.next() % 5 {
                    case 0: try store.put(TaggedValue.key(0, slot), TaggedValue(group: 0, slot: slot, generation: n).bytes)
                    case 1:
                        var batch = WriteBatch()
                        batch.put(TaggedValue.key(0, slot), TaggedValue(group: 0, slot: slot, generation: n).bytes)
                        batch.delete(TaggedValue.key(0, (slot + 1) % 500))
                        try store.apply(batch)
                    case 2: try store.scan(from: TaggedValue.key(0, slot), limit: 20) { _, _ in }
                    default:
                        if try store.get(TaggedValue.key(0, slot), into: &value) {
                            _ = try TaggedValue.parse(value, key: TaggedValue.key(0, slot))
                        }
                    }
                } catch StoreError.closed {
                    return
                }
            }
        }
        try expectStoreError("get after close", matching: { if case .closed = $0 { true } else { false } }) {
            try store.get(TaggedValue.key(0, 1))
        }
        // The directory was released whole: it opens again and holds only values that were written.
        let reopened = try engine.open(directory, options)
        defer { try? reopened.close() }
        if engine.isPersistent {
            try reopened.scan(from: [], limit: Int.max) { key, value in
                _ = try TaggedValue.parse(Array(value), key: Array(key))
            }
        }
    }
}

/// A value that says which key it belongs to and which write made it, with a check byte pattern,
/// so a reader can verify it without knowing what the writers did.
struct TaggedValue: Equatable, CustomStringConvertible {
    var group: Int
    var slot: Int
    var generation: UInt64

    static let size = 40

    static func key(_ group: Int, _ slot: Int) -> [UInt8] {
        var key = Array("g".utf8)
        appendBigEndian(&key, UInt32(truncatingIfNeeded: group))
        key.append(0x2F)
        appendBigEndian(&key, UInt32(truncatingIfNeeded: slot))
        return key
    }

    var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        Self.appendBigEndian(&out, UInt32(truncatingIfNeeded: group))
        Self.appendBigEndian(&out, UInt32(truncatingIfNeeded: slot))
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: generation >> UInt64(shift))) }
        let check = Self.check(group: group, slot: slot, generation: generation)
        while out.count < Self.size { out.append(UInt8(truncatingIfNeeded: check &+ UInt64(out.count))) }
        return out
    }

    static func check(group: Int, slot: Int, generation: UInt64) -> UInt64 {
        var hash = UInt64(truncatingIfNeeded: group) &* 0x9E37_79B9_7F4A_7C15
        hash ^= UInt64(truncatingIfNeeded: slot) &* 0xC2B2_AE3D_27D4_EB4F
        hash ^= generation &* 0x1656_67B1_9E37_79F9
        return hash ^ (hash >> 29)
    }

    /// Decodes `value`, which must be a whole tagged value written for `key`.
    static func parse(_ value: [UInt8], key: [UInt8]) throws -> TaggedValue {
        try expectEqual(value.count, size, "value of \(hex(key)) has the size of a written value")
        func word(_ at: Int) -> UInt32 { value[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        let generation = value[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let tag = TaggedValue(group: Int(word(0)), slot: Int(word(4)), generation: generation)
        try expect(tag.bytes == value, "value of \(hex(key)) is not a value any writer wrote (\(hex(value)))")
        try expectEqual(Self.key(tag.group, tag.slot), key, "value belongs to its key")
        return tag
    }

    var description: String { "g\(group)/\(slot)@\(generation)" }

    private static func appendBigEndian(_ out: inout [UInt8], _ value: UInt32) {
        out.append(UInt8(value >> 24)); out.append(UInt8((value >> 16) & 0xFF))
        out.append(UInt8((value >> 8) & 0xFF)); out.append(UInt8(value & 0xFF))
    }
}

/// A counter the threads of a case share.
final class SharedCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .releasing) }
    var value: Int { count.load(ordering: .acquiring) }
}

/// The highest acknowledged version per writer, published after each acknowledgement.
final class SharedVersions: Sendable {
    private let versions: Protected<[UInt64]>
    init(_ count: Int) { versions = Protected([UInt64](repeating: 0, count: count)) }
    func set(_ index: Int, _ value: UInt64) { versions.withLock { $0[index] = value } }
    func get(_ index: Int) -> UInt64 { versions.withLock { $0[index] } }
}
