import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

/// The hash index and the ordered map must always hold the same entries: checked against a
/// dictionary through enough inserts to grow the hash table several times, deletes that shift
/// probe runs back, and values that grow, shrink and cross the arena's 4 KiB size-class limit.
@Suite("MemoryStore indexes against a model")
struct MemoryIndexModelTests {
    @Test("gets, scans and statistics agree with a dictionary through random puts and deletes")
    func randomOperations() throws {
        let store = MemoryStore()
        var model: [[UInt8]: [UInt8]] = [:]
        var random = SeededRandom(seed: 19)
        let sizes = [0, 1, 7, 24, 200, 201, 450, 4000, 4081, 6000]
        for step in 0..<20_000 {
            // Keys that share long prefixes, like the default mix's `user` + digits.
            let key = Array("user\(100_000 + Int(random.next() % 3000))".utf8)
            if random.next() % 4 == 0 {
                try store.delete(key)
                model[key] = nil
            } else {
                let size = sizes[Int(random.next() % UInt64(sizes.count))]
                let value = [UInt8](repeating: UInt8(truncatingIfNeeded: step), count: size)
                try store.put(key, value)
                model[key] = value
            }
            if step % 997 == 0 { try check(store, model) }
        }
        try check(store, model)
        for key in Array(model.keys) { try store.delete(key) }
        #expect(try store.statistics().keyCount == 0)
        #expect(try store.scan(from: [], limit: 10).isEmpty)
    }

    @Test("a batch updates both indexes")
    func batch() throws {
        let store = MemoryStore()
        try store.put(bytes("a"), bytes("1"))
        var batch = WriteBatch()
        batch.put(bytes("b"), [UInt8](repeating: 2, count: 5000))
        batch.delete(bytes("a"))
        batch.put(bytes("c"), bytes("3"))
        try store.apply(batch)
        #expect(try store.get(bytes("a")) == nil)
        #expect(try store.get(bytes("b"))?.count == 5000)
        #expect(try store.scan(from: [], limit: 10).map(\.key) == [bytes("b"), bytes("c")])
    }

    private func check(_ store: MemoryStore, _ model: [[UInt8]: [UInt8]]) throws {
        for (key, value) in model { #expect(try store.get(key) == value) }
        let sorted = model.keys.sorted { $0.lexicographicallyPrecedes($1) }
        let scanned = try store.scan(from: [], limit: .max)
        #expect(scanned.map(\.key) == sorted)
        #expect(scanned.allSatisfy { model[$0.key] == $0.value })
        let statistics = try store.statistics()
        #expect(statistics.keyCount == model.count)
        #expect(statistics.liveBytes == model.reduce(0) { $0 + $1.key.count + $1.value.count })
    }
}
