@testable import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

/// The hash table and the ordered map must always hold the same entries: checked against a
/// dictionary through enough inserts to grow the table several times, deletes that shift probe
/// runs back (moving entries the tree points to), values that grow out of their cells and shrink
/// back in, and values that cross the arena's 4 KiB size-class limit.
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

    @Test("a tree three levels deep splits, empties leaves and internal nodes, and shrinks back")
    func deepTree() throws {
        let store = MemoryStore()
        var random = SeededRandom(seed: 7)
        var keys = (0..<60_000).map { Array("user\(String(1_000_000_000 + $0 * 7919 % 60_000))".utf8) }
        keys.shuffle(using: &random)
        for key in keys { try store.put(key, key) }
        let sorted = keys.sorted { $0.lexicographicallyPrecedes($1) }
        #expect(try store.scan(from: [], limit: .max).map(\.key) == sorted)
        // Delete all but every 500th key, in random order: whole leaves and internal nodes empty.
        let kept = Set(sorted.enumerated().filter { $0.offset % 500 == 0 }.map(\.element))
        for key in keys where !kept.contains(key) { try store.delete(key) }
        let remaining = sorted.filter { kept.contains($0) }
        #expect(try store.scan(from: [], limit: .max).map(\.key) == remaining)
        for key in remaining { #expect(try store.get(key) == key) }
        // A scan from between two keys starts at the next one.
        let start = remaining[3] + [0]
        #expect(try store.scan(from: start, limit: 2).map(\.key) == [remaining[4], remaining[5]])
        for key in remaining { try store.delete(key) }
        #expect(try store.scan(from: [], limit: .max).isEmpty)
        #expect(try store.statistics().keyCount == 0)
        for key in sorted.prefix(100) { try store.put(key, []) }
        #expect(try store.scan(from: [], limit: .max).map(\.key) == Array(sorted.prefix(100)))
    }

    @Test("cells take the size most entries need when the table grows; entries move in and out of them")
    func cellSizesFollowTheEntries() throws {
        let store = MemoryStore()
        var model: [[UInt8]: [UInt8]] = [:]
        func key(_ number: Int) -> [UInt8] { Array("key\(1_000_000 + number)".utf8) }
        // Small entries: 16-byte header, 10-byte key, 20-byte value fit 64-byte cells.
        for number in 0..<3000 {
            let value = [UInt8](repeating: UInt8(truncatingIfNeeded: number), count: 20)
            try store.put(key(number), value)
            model[key(number)] = value
        }
        #expect(store.tableShape.cellSize == 64)
        try check(store, model)
        // Large values: the existing entries leave their cells for arena blocks, and the next
        // growth picks cells that hold 1,500-byte values, moving those entries back in.
        for number in 0..<12_000 {
            let value = [UInt8](repeating: UInt8(truncatingIfNeeded: number &* 7), count: 1500)
            try store.put(key(number), value)
            model[key(number)] = value
            if number == 2999 { try check(store, model) }
        }
        #expect(store.tableShape.cellSize == 1536)
        try check(store, model)
        // Mixed: some values outgrow the cells, some shrink into them, a third of the keys go
        // (the shifts move cells the tree points to).
        var random = SeededRandom(seed: 5)
        for number in 0..<12_000 {
            switch random.next() % 3 {
            case 0:
                try store.delete(key(number))
                model[key(number)] = nil
            case 1:
                let value = [UInt8](repeating: 9, count: 3000 + number % 5)
                try store.put(key(number), value)
                model[key(number)] = value
            default:
                let value = [UInt8](repeating: 3, count: number % 40)
                try store.put(key(number), value)
                model[key(number)] = value
            }
        }
        try check(store, model)
    }

    @Test("a store of values too large for any cell gets the smallest cells, not cells that hold a pointer each")
    func largeValuesGetSmallCells() throws {
        let store = MemoryStore()
        var model: [[UInt8]: [UInt8]] = [:]
        for number in 0..<200 {
            let key = Array("key\(1000 + number)".utf8)
            // One in five fits a 2 KiB cell; the rest do not.
            let value = [UInt8](repeating: UInt8(truncatingIfNeeded: number), count: number % 5 == 0 ? 1000 : 5000)
            try store.put(key, value)
            model[key] = value
        }
        #expect(store.tableShape.cellSize == CellTable.smallestCell)
        try check(store, model)
    }

    @Test("the cell size covers nine entries in ten")
    func entrySizePercentile() {
        var sizes = EntrySizes()
        for _ in 0..<89 { sizes.add(100) }
        for _ in 0..<11 { sizes.add(900) }
        #expect(sizes.percentile(0.9) == 960)
        sizes.remove(900)
        sizes.change(from: 900, to: 120)
        #expect(sizes.percentile(0.9) == 128)
        for _ in 0..<500 { sizes.add(100_000) }
        #expect(sizes.percentile(0.9) > CellTable.largestCell)
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
