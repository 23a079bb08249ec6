import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

/// The concurrency suite must be able to fail: a store that applies a batch one key at a time
/// (each put atomic, the batch not) is caught.
@Suite("Concurrency suite")
struct ConcurrencySuiteTests {
    /// `memory`, but `apply` commits each operation of a batch on its own.
    final class TearingStore: Store, @unchecked Sendable {
        let inner: MemoryStore
        init(directory: String, options: StoreOptions) throws { inner = try MemoryStore(directory: directory, options: options) }
        var engineName: String { "tearing" }
        var metrics: StoreMetrics { inner.metrics }
        func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool { try inner.get(key, into: &value) }
        func put(_ key: [UInt8], _ value: [UInt8]) throws { try inner.put(key, value) }
        func delete(_ key: [UInt8]) throws { try inner.delete(key) }
        func apply(_ batch: WriteBatch) throws {
            for operation in batch.operations {
                switch operation {
                case let .put(key, value): try inner.put(key, value)
                case let .delete(key): try inner.delete(key)
                }
            }
        }
        func scan(from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
            try inner.scan(from: start, limit: limit, body)
        }
        func sync() throws { try inner.sync() }
        func compact() throws { try inner.compact() }
        func close() throws { try inner.close() }
        func statistics() throws -> StoreStatistics { try inner.statistics() }
    }

    static let tearing = EngineDescriptor(name: "tearing", strategy: "test double", summary: "tears batches", isPersistent: false) { directory, options in
        try TearingStore(directory: directory, options: options)
    }

    @Test("a store whose batches are seen half-applied fails the torn-batch case")
    func catchesTornBatches() throws {
        let suite = ConcurrencySuite(engine: Self.tearing, threads: 4, operations: 20_000)
        #expect(throws: ConformanceFailure.self) { try suite.run(.noTornBatches) }
    }

    @Test("memory passes every case with 8 threads")
    func memoryPasses() throws {
        let suite = ConcurrencySuite(engine: MemoryStore.descriptor, threads: 8)
        for testCase in ConcurrencySuite.Case.allCases {
            let outcome = try suite.run(testCase)
            #expect(outcome == .passed || testCase == .concurrentWritersPersist, "\(testCase)")
        }
    }
}
