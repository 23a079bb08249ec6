import MemoryStore
import StoreCore

/// The behaviour every registered engine must show, checked case by case against the `memory`
/// engine as oracle. Each case runs in its own scratch directory.
public struct ConformanceSuite {
    public enum Case: String, CaseIterable, Sendable, CustomStringConvertible {
        case crud
        case batchAtomicity
        case batchOrdering
        case scanOrderBoundsAndLimit
        case emptyAndMaximumSizes
        case oversizedRejected
        case persistenceAcrossReopen
        case reopenAfterThousandsOfOperations
        case lockExclusion
        case foreignDirectory
        case randomizedModel
        case closedStore
        case metricsAndStatistics

        public var description: String { rawValue }

        /// Cases that only make sense for engines that keep data across close and reopen.
        var needsPersistence: Bool {
            self == .persistenceAcrossReopen || self == .reopenAfterThousandsOfOperations
        }
    }

    public enum Outcome: Equatable, Sendable {
        case passed
        case notApplicable(String)
    }

    /// Opens the store directory from a second process and reports its exit status and output
    /// (stdout and stderr together).
    public typealias SecondProcessOpen = @Sendable (_ directory: String) throws -> (status: Int32, output: String)

    public let engine: EngineDescriptor
    public let options: StoreOptions
    public let secondProcess: SecondProcessOpen?
    /// Seed of the randomized model test; printed in its failure messages.
    public let seed: UInt64
    /// Operations of the randomized model test.
    public let modelOperations: Int

    public init(
        engine: EngineDescriptor, options: StoreOptions = StoreOptions(durability: .none),
        secondProcess: SecondProcessOpen? = nil, seed: UInt64 = 0x5EED_CAFE, modelOperations: Int = 10_000
    ) {
        self.engine = engine
        self.options = options
        self.secondProcess = secondProcess
        self.seed = seed
        self.modelOperations = modelOperations
    }

    /// Runs one case in a fresh scratch directory.
    public func run(_ testCase: Case) throws -> Outcome {
        if testCase.needsPersistence && !engine.isPersistent {
            return .notApplicable("`\(engine.name)` does not persist data across reopen")
        }
        let scratch = try ScratchDirectory("\(engine.name)-\(testCase.rawValue)")
        defer { scratch.remove() }
        let directory = scratch.child("store")
        switch testCase {
        case .crud: try crud(directory)
        case .batchAtomicity: try batchAtomicity(directory)
        case .batchOrdering: try batchOrdering(directory)
        case .scanOrderBoundsAndLimit: try scanOrderBoundsAndLimit(directory)
        case .emptyAndMaximumSizes: try emptyAndMaximumSizes(directory)
        case .oversizedRejected: try oversizedRejected(directory)
        case .persistenceAcrossReopen: try persistenceAcrossReopen(directory)
        case .reopenAfterThousandsOfOperations: try reopenAfterThousandsOfOperations(directory)
        case .lockExclusion: try lockExclusion(directory)
        case .foreignDirectory: try foreignDirectory(scratch)
        case .randomizedModel: try randomizedModel(directory)
        case .closedStore: try closedStore(directory)
        case .metricsAndStatistics: try metricsAndStatistics(directory)
        }
        return .passed
    }

    func open(_ directory: String) throws -> any Store {
        try engine.open(directory, options)
    }

    // MARK: Cases

    func crud(_ directory: String) throws {
        let store = try open(directory)
        defer { try? store.close() }
        try expectEqual(try store.get(bytes("missing")), nil, "get of a key never written")
        try store.put(bytes("alpha"), bytes("one"))
        try store.put(bytes("beta"), bytes("two"))
        try expectEqual(try store.get(bytes("alpha")), bytes("one"), "get after put")
        try store.put(bytes("alpha"), bytes("uno, longer than before"))
        try expectEqual(try store.get(bytes("alpha")), bytes("uno, longer than before"), "get after overwrite")
        try store.put(bytes("alpha"), bytes("1"))
        try expectEqual(try store.get(bytes("alpha")), bytes("1"), "get after overwrite with a shorter value")
        try store.delete(bytes("alpha"))
        try expectEqual(try store.get(bytes("alpha")), nil, "get after delete")
        try expectEqual(try store.get(bytes("beta")), bytes("two"), "a neighbour survives the delete")
        try store.delete(bytes("never-written"))
        try store.put(bytes("alpha"), bytes("again"))
        try expectEqual(try store.get(bytes("alpha")), bytes("again"), "put after delete")
        // The caller's buffer is replaced, not appended to, and reused.
        var buffer = bytes("stale contents that are longer")
        try expect(try store.get(bytes("beta"), into: &buffer), "get(into:) finds beta")
        try expectEqual(buffer, bytes("two"), "get(into:) replaces the buffer contents")
        try expect(!(try store.get(bytes("gone"), into: &buffer)), "get(into:) of a missing key")
    }

    func batchAtomicity(_ directory: String) throws {
        let store = try open(directory)
        defer { try? store.close() }
        try store.put(bytes("keep"), bytes("old"))
        try store.put(bytes("drop"), bytes("old"))
        var batch = WriteBatch()
        batch.put(bytes("keep"), bytes("new"))
        batch.delete(bytes("drop"))
        batch.put(bytes("added"), bytes("fresh"))
        try store.apply(batch)
        try expectEqual(try store.get(bytes("keep")), bytes("new"), "batch put")
        try expectEqual(try store.get(bytes("drop")), nil, "batch delete")
        try expectEqual(try store.get(bytes("added")), bytes("fresh"), "batch insert")

        // One oversized entry makes the whole batch fail and change nothing.
        var bad = WriteBatch()
        bad.put(bytes("keep"), bytes("must not appear"))
        bad.delete(bytes("added"))
        bad.put([UInt8](repeating: 7, count: engine.maxKeySize + 1), bytes("x"))
        try expectStoreError("batch with an oversized key", matching: { if case .invalidArgument = $0 { true } else { false } }) {
            try store.apply(bad)
        }
        try expectEqual(try store.get(bytes("keep")), bytes("new"), "failed batch left keep untouched")
        try expectEqual(try store.get(bytes("added")), bytes("fresh"), "failed batch left added untouched")
        try store.apply(WriteBatch())
        try expectEqual(try store.scan(from: [], limit: 10).count, 2, "an empty batch changes nothing")
    }

    func batchOrdering(_ directory: String) throws {
        let store = try open(directory)
        defer { try? store.close() }
        var batch = WriteBatch()
        batch.put(bytes("k"), bytes("first"))
        batch.put(bytes("k"), bytes("second"))
        batch.put(bytes("gone"), bytes("x"))
        batch.delete(bytes("gone"))
        batch.delete(bytes("back"))
        batch.put(bytes("back"), bytes("y"))
        try store.apply(batch)
        try expectEqual(try store.get(bytes("k")), bytes("second"), "later put in a batch wins")
        try expectEqual(try store.get(bytes("gone")), nil, "delete after put in a batch wins")
        try expectEqual(try store.get(bytes("back")), bytes("y"), "put after delete in a batch wins")
    }

    func scanOrderBoundsAndLimit(_ directory: String) throws {
        let store = try open(directory)
        defer { try? store.close() }
        // Bytes ≥ 0x80 must sort after ASCII (unsigned), a prefix before its extensions.
        let keys: [[UInt8]] = [
            [0x00], [0x00, 0x00], [0x01], bytes("a"), bytes("a\u{0}"), bytes("ab"), bytes("b"),
            [0x7F], [0x80], [0x80, 0x00], [0xFE, 0xFF], [0xFF], [0xFF, 0xFF, 0xFF],
        ]
        var random = SeededRandom(seed: seed)
        for key in keys.shuffled(using: &random) { try store.put(key, key + [0xAA]) }
        let all = try store.scan(from: [], limit: 100)
        try expectEqual(all.map(\.key), keys, "full scan in unsigned byte order")
        try expectEqual(all.map(\.value), keys.map { $0 + [0xAA] }, "scan values belong to their keys")
        try expectEqual(try store.scan(from: bytes("a"), limit: 2).map(\.key), [bytes("a"), bytes("a\u{0}")], "scan from an existing key includes it")
        try expectEqual(try store.scan(from: bytes("aa"), limit: 2).map(\.key), [bytes("ab"), bytes("b")], "scan from a missing key starts at the next")
        try expectEqual(try store.scan(from: [0xFF, 0xFF, 0xFF, 0x00], limit: 5).count, 0, "scan past the last key is empty")
        try expectEqual(try store.scan(from: [], limit: 0).count, 0, "limit 0 visits nothing")
        try expectEqual(try store.scan(from: [0x80], limit: 3).map(\.key), [[0x80], [0x80, 0x00], [0xFE, 0xFF]], "limit bounds the result")
        try store.delete(bytes("ab"))
        try expectEqual(try store.scan(from: bytes("a\u{0}"), limit: 2).map(\.key), [bytes("a\u{0}"), bytes("b")], "scan skips deleted keys")
        var visited = 0
        let count = try store.scan(from: [], limit: 5) { _, _ in visited += 1 }
        try expectEqual(count, 5, "scan returns how many entries it visited")
        try expectEqual(visited, 5, "scan calls the body once per entry")
    }

    func emptyAndMaximumSizes(_ directory: String) throws {
        let store = try open(directory)
        defer { try? store.close() }
        var random = SeededRandom(seed: seed)
        let maxKey = random.bytes(engine.maxKeySize)
        let maxValue = random.bytes(StoreLimits.maxValueSize)
        try store.put([], bytes("value of the empty key"))
        try store.put(bytes("empty value"), [])
        try store.put(maxKey, bytes("value of the largest key"))
        try store.put(bytes("largest value"), maxValue)
        try expectEqual(try store.get([]), bytes("value of the empty key"), "empty key")
        try expectEqual(try store.get(bytes("empty value")), [], "empty value is present, not missing")
        try expectEqual(try store.get(maxKey), bytes("value of the largest key"), "64 KiB key")
        try expect(try store.get(bytes("largest value")) == maxValue, "64 MiB value reads back intact")
        try expectEqual(try store.scan(from: [], limit: 1).first?.key, [], "the empty key sorts first")
        try store.delete([])
        try expectEqual(try store.get([]), nil, "empty key deleted")
        if engine.isPersistent {
            try store.close()
            let reopened = try open(directory)
            defer { try? reopened.close() }
            try expectEqual(try reopened.get(bytes("empty value")), [], "empty value after reopen")
            try expectEqual(try reopened.get(maxKey), bytes("value of the largest key"), "64 KiB key after reopen")
            try expect(try reopened.get(bytes("largest value")) == maxValue, "64 MiB value after reopen")
            try expectEqual(try reopened.get([]), nil, "deleted empty key after reopen")
        }
    }

    func oversizedRejected(_ directory: String) throws {
        let store = try open(directory)
        defer { try? store.close() }
        let isInvalid: (StoreError) -> Bool = { if case .invalidArgument = $0 { true } else { false } }
        let longKey = [UInt8](repeating: 1, count: engine.maxKeySize + 1)
        let error = try expectStoreError("put with a key over the engine's limit", matching: isInvalid) {
            try store.put(longKey, bytes("v"))
        }
        try expect(String(describing: error).contains(String(engine.maxKeySize + 1)), "the message names the size: \(error)")
        try expectStoreError("put with a value over 64 MiB", matching: isInvalid) {
            try store.put(bytes("k"), [UInt8](repeating: 1, count: StoreLimits.maxValueSize + 1))
        }
        try expectStoreError("delete with a key over 64 KiB", matching: isInvalid) {
            try store.delete(longKey)
        }
        try expectEqual(try store.scan(from: [], limit: 10).count, 0, "rejected writes left nothing behind")
    }

    func persistenceAcrossReopen(_ directory: String) throws {
        let oracle = MemoryStore()
        var store = try open(directory)
        for index in 0..<500 {
            let key = bytes("key-\(index)")
            let value = bytes(String(repeating: "v\(index)", count: index % 17))
            try store.put(key, value)
            try oracle.put(key, value)
        }
        try store.close()
        store = try open(directory)
        try expectSameContents(store, oracle, "after the first reopen")
        for index in stride(from: 0, to: 500, by: 3) {
            try store.delete(bytes("key-\(index)"))
            try oracle.delete(bytes("key-\(index)"))
        }
        var batch = WriteBatch()
        for index in 500..<520 { batch.put(bytes("key-\(index)"), bytes("batched")) }
        try store.apply(batch)
        try oracle.apply(batch)
        try store.close()
        store = try open(directory)
        defer { try? store.close() }
        try expectSameContents(store, oracle, "after deletes, a batch and a second reopen")
    }

    func reopenAfterThousandsOfOperations(_ directory: String) throws {
        let oracle = MemoryStore()
        var random = SeededRandom(seed: seed &+ 1)
        for cycle in 0..<3 {
            let store = try open(directory)
            try expectSameContents(store, oracle, "on reopen before cycle \(cycle)")
            for _ in 0..<4000 {
                let key = bytes("k\(random.below(1500))")
                switch random.below(10) {
                case 0..<6:
                    let value = random.bytes(random.below(300))
                    try store.put(key, value)
                    try oracle.put(key, value)
                case 6..<8:
                    try store.delete(key)
                    try oracle.delete(key)
                default:
                    var batch = WriteBatch()
                    for _ in 0..<(1 + random.below(6)) {
                        let batchKey = bytes("k\(random.below(1500))")
                        if random.below(3) == 0 { batch.delete(batchKey) } else { batch.put(batchKey, random.bytes(40)) }
                    }
                    try store.apply(batch)
                    try oracle.apply(batch)
                }
            }
            if cycle == 1 { try store.compact() }
            try store.close()
        }
        let store = try open(directory)
        defer { try? store.close() }
        try expectSameContents(store, oracle, "after 12,000 operations over three reopen cycles")
    }

    func lockExclusion(_ directory: String) throws {
        let first = try open(directory)
        try first.put(bytes("k"), bytes("v"))
        let error = try expectStoreError("second open in the same process", matching: { if case .locked = $0 { true } else { false } }) {
            try open(directory)
        }
        try expect(String(describing: error).contains("locked"), "the error says locked: \(error)")
        try expectEqual(try first.get(bytes("k")), bytes("v"), "the first store still works after the refused open")
        if let secondProcess {
            let (status, output) = try secondProcess(directory)
            try expect(status != 0, "a second process opening a locked store must fail, it exited 0: \(output)")
            try expect(output.contains("locked"), "the second process says the store is locked: \(output)")
        }
        try first.close()
        let again = try open(directory)
        try again.close()
        if let secondProcess {
            let (status, output) = try secondProcess(directory)
            try expectEqual(status, 0, "a second process opens the store once it is closed: \(output)")
        }
    }

    func foreignDirectory(_ scratch: ScratchDirectory) throws {
        let fileSystem = PosixFileSystem()
        let foreign = scratch.child("foreign")
        let directory = StorageDirectory(path: foreign, fileSystem: fileSystem, metrics: StoreMetrics())
        try StorageDirectory.createPath(foreign, fileSystem: fileSystem)
        try directory.writeAtomically("notes.txt", contents: bytes("not a store"))
        let error = try expectStoreError("open of a directory holding other files", matching: { if case .notAStore = $0 { true } else { false } }) {
            try open(foreign)
        }
        try expect(String(describing: error).contains("notes.txt"), "the error names what is there: \(error)")
        try expectEqual(try directory.list(), ["notes.txt"], "the foreign directory is left untouched")
        try expectEqual(try directory.readAll("notes.txt"), bytes("not a store"), "the foreign file is unchanged")

        let other = scratch.child("other-engine")
        try StorageDirectory.createPath(other, fileSystem: fileSystem)
        let otherDirectory = StorageDirectory(path: other, fileSystem: fileSystem, metrics: StoreMetrics())
        try otherDirectory.writeAtomically(StoreIdentity.fileName, contents: StoreIdentity(engine: "some-other-engine", formatVersion: 1).encoded())
        try expectStoreError("open of another engine's store", matching: { if case .wrongEngine = $0 { true } else { false } }) {
            try open(other)
        }

        let plainFile = scratch.child("plain-file")
        try StorageDirectory(path: scratch.path, fileSystem: fileSystem, metrics: StoreMetrics())
            .writeAtomically("plain-file", contents: bytes("x"))
        try expectStoreError("open of a regular file", matching: { if case .notAStore = $0 { true } else { false } }) {
            try open(plainFile)
        }

        var noCreate = options
        noCreate.createIfMissing = false
        try expectStoreError("open of a missing directory without createIfMissing", matching: { if case .notAStore = $0 { true } else { false } }) {
            try engine.open(scratch.child("missing"), noCreate)
        }
    }

    func randomizedModel(_ directory: String) throws {
        var model = RandomizedModel(seed: seed, operations: modelOperations, reopenEvery: engine.isPersistent ? 2500 : nil)
        try model.run(open: { try open(directory) })
    }

    func closedStore(_ directory: String) throws {
        let store = try open(directory)
        try store.put(bytes("k"), bytes("v"))
        try store.close()
        let isClosed: (StoreError) -> Bool = { $0 == .closed }
        try expectStoreError("get after close", matching: isClosed) { try store.get(bytes("k")) }
        try expectStoreError("put after close", matching: isClosed) { try store.put(bytes("k"), bytes("v")) }
        try expectStoreError("delete after close", matching: isClosed) { try store.delete(bytes("k")) }
        try expectStoreError("scan after close", matching: isClosed) { try store.scan(from: [], limit: 1) }
        try expectStoreError("close twice", matching: isClosed) { try store.close() }
    }

    func metricsAndStatistics(_ directory: String) throws {
        let store = try open(directory)
        defer { try? store.close() }
        let before = store.metrics.snapshot()
        try store.put(bytes("12345"), bytes("1234567890"))
        try store.delete(bytes("123"))
        var batch = WriteBatch()
        batch.put(bytes("ab"), bytes("cd"))
        try store.apply(batch)
        try store.sync()
        let after = store.metrics.snapshot()
        try expectEqual(after.userBytesWritten - before.userBytesWritten, 15 + 3 + 4, "user bytes count keys and values of puts, keys of deletes")
        let statistics = try store.statistics()
        if let keys = statistics.keyCount { try expectEqual(keys, 2, "key count") }
        if let live = statistics.liveBytes { try expect(live >= 19, "live bytes cover the two entries (got \(live))") }
        if engine.isPersistent {
            // A reference engine's library does its own I/O, which only the kernel counts.
            if !engine.isReference {
                try expect(after.fileBytesWritten - before.fileBytesWritten >= 19, "a persistent engine writes at least the user bytes to files")
            }
            try expect(statistics.diskBytes > 0 && statistics.fileCount > 0, "a persistent engine has files on disk")
        }
    }

    // MARK: Helpers

    func expectSameContents(_ store: any Store, _ oracle: MemoryStore, _ context: String) throws {
        let actual = try store.scan(from: [], limit: Int.max)
        let expected = try oracle.scan(from: [], limit: Int.max)
        try expectEqual(actual.count, expected.count, "\(context): number of entries")
        for (got, want) in zip(actual, expected) {
            try expectEqual(got.key, want.key, "\(context): key order")
            try expectEqual(got.value, want.value, "\(context): value of \(hex(want.key))")
        }
        for entry in expected.prefix(200) {
            try expectEqual(try store.get(entry.key), entry.value, "\(context): get \(hex(entry.key))")
        }
    }
}

/// UTF-8 bytes of `text`.
public func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}
