@testable import LSMTree
import StoreCore
import StoreTestSupport
import Synchronization
import Testing

@Suite("lsm memtable")
struct MemtableTests {
    static func get(_ memtable: Memtable, _ key: [UInt8], snapshot: UInt64) -> [UInt8]?? {
        key.withUnsafeBytes { raw in
            switch memtable.get(raw, prefix: KeyPrefix.of(raw), snapshot: snapshot) {
            case .absent: return nil
            case .deleted: return .some(nil)
            case let .value(bytes): return .some(Array(bytes))
            }
        }
    }

    static func put(_ memtable: Memtable, _ key: [UInt8], _ value: [UInt8], _ sequence: UInt64, order: UInt32 = 0) {
        key.withUnsafeBytes { key in value.withUnsafeBytes { memtable.put(key, $0, sequence: sequence, order: order) } }
    }

    static func entries(_ memtable: Memtable, snapshot: UInt64, from start: [UInt8]? = nil) -> [(key: [UInt8], value: [UInt8]?)] {
        let iterator = MemtableIterator(memtable, snapshot: snapshot)
        if let start { start.withUnsafeBytes { iterator.seek($0) } } else { iterator.seekToFirst() }
        var out: [(key: [UInt8], value: [UInt8]?)] = []
        while iterator.isValid {
            out.append((Array(iterator.key), iterator.value.map { Array($0) }))
            iterator.next()
        }
        return out
    }

    @Test("a reader at a snapshot sees the newest version at or below it; deletes hide older values")
    func snapshots() {
        let memtable = Memtable()
        let key = Array("k".utf8)
        Self.put(memtable, key, [1], 1)
        Self.put(memtable, Array("j".utf8), [9], 2)
        Self.put(memtable, key, [2], 3)
        key.withUnsafeBytes { memtable.delete($0, sequence: 4, order: 0) }
        Self.put(memtable, key, [5], 5)
        #expect(Self.get(memtable, key, snapshot: 0) == nil)
        #expect(Self.get(memtable, key, snapshot: 1) == .some([1]))
        #expect(Self.get(memtable, key, snapshot: 2) == .some([1]))
        #expect(Self.get(memtable, key, snapshot: 3) == .some([2]))
        #expect(Self.get(memtable, key, snapshot: 4) == .some(nil))
        #expect(Self.get(memtable, key, snapshot: .max) == .some([5]))
        #expect(Self.get(memtable, Array("ka".utf8), snapshot: .max) == nil)
        #expect(Self.get(memtable, Array("".utf8), snapshot: .max) == nil)
        #expect(Self.entries(memtable, snapshot: 1).map(\.key) == [key])
        #expect(Self.entries(memtable, snapshot: 4).map(\.value) == [[9], nil])
        #expect(Self.entries(memtable, snapshot: .max).map(\.value) == [[9], [5]])
        #expect(memtable.count == 5 && memtable.maxSequence == 0, "noteCommit was not called")
    }

    @Test("two writes to one key in one commit: the later wins")
    func sameCommit() {
        let memtable = Memtable()
        let key = Array("dup".utf8)
        Self.put(memtable, key, [1], 7, order: 0)
        Self.put(memtable, key, [2], 7, order: 1)
        Self.put(memtable, key, [3], 7, order: 2)
        #expect(Self.get(memtable, key, snapshot: 7) == .some([3]))
        #expect(Self.entries(memtable, snapshot: 7).map(\.value) == [[3]])
        memtable.noteCommit(7)
        #expect(memtable.maxSequence == 7 && memtable.commits == 1)
    }

    @Test("many keys in random order come out sorted, and seek finds the first key at or after any target")
    func order() {
        let memtable = Memtable()
        var random = SeededRandom(seed: 3)
        var model: [[UInt8]: [UInt8]] = [:]
        for sequence in 1...5000 {
            let key = numberedKey(random.below(3000))
            let value = numberedValue(sequence, size: random.below(40))
            Self.put(memtable, key, value, UInt64(sequence))
            model[key] = value
        }
        let sorted = model.keys.sorted(by: KeyOrder.less)
        let all = Self.entries(memtable, snapshot: .max)
        #expect(all.map(\.key) == sorted)
        #expect(all.allSatisfy { model[$0.key] == $0.value })
        for number in stride(from: 0, to: 3100, by: 97) {
            let target = numberedKey(number)
            let expected = sorted.first { !KeyOrder.less($0, target) }
            #expect(Self.entries(memtable, snapshot: .max, from: target).first?.key == expected)
        }
        #expect(memtable.approximateBytes > 5000 * (11 + 32))
    }
}

@Suite("lsm memtable concurrency")
struct MemtableConcurrencyTests {
    /// One writer adds commits of two keys (the same counter in both); readers check that at
    /// any snapshot they take, both keys show the same commit and that snapshot's commit.
    @Test("readers beside the one writer never see part of a commit, nor a commit above their snapshot")
    func concurrentReaders() throws {
        let memtable = Memtable()
        let published = Atomic<UInt64>(0)
        let commits: UInt64 = 20_000
        let keys = [Array("alpha".utf8), Array("omega".utf8)] + (0..<50).map { numberedKey($0) }
        try ConcurrentThreads.run(4) { thread in
            if thread == 0 {
                for sequence in 1...commits {
                    var value = [UInt8](repeating: 0, count: 8)
                    value.withUnsafeMutableBytes { $0.storeBytes(of: sequence, as: UInt64.self) }
                    MemtableTests.put(memtable, keys[0], value, sequence, order: 0)
                    MemtableTests.put(memtable, keys[2 + Int(sequence % 50)], value, sequence, order: 1)
                    MemtableTests.put(memtable, keys[1], value, sequence, order: 2)
                    memtable.noteCommit(sequence)
                    published.store(sequence, ordering: .releasing)
                }
                return
            }
            var checks = 0
            while published.load(ordering: .acquiring) < commits || checks < 100 {
                checks += 1
                let snapshot = published.load(ordering: .acquiring)
                guard snapshot > 0 else { continue }
                let first = MemtableTests.get(memtable, keys[0], snapshot: snapshot)
                let last = MemtableTests.get(memtable, keys[1], snapshot: snapshot)
                let decode = { (value: [UInt8]??) -> UInt64? in value??.withUnsafeBytes { $0.load(as: UInt64.self) } }
                try expectEqual(decode(first), snapshot, "alpha at snapshot \(snapshot)")
                try expectEqual(decode(last), snapshot, "omega at snapshot \(snapshot)")
                if checks % 50 == 0 {
                    let scanned = MemtableTests.entries(memtable, snapshot: snapshot)
                    try expect(zip(scanned, scanned.dropFirst()).allSatisfy { KeyOrder.less($0.key, $1.key) }, "scan in order")
                    try expect(scanned.allSatisfy { (decode($0.value) ?? 0) <= snapshot }, "scan sees nothing above its snapshot")
                    try expectEqual(scanned.first.flatMap { decode($0.value) }, snapshot, "scan sees its snapshot's commit")
                }
            }
        }
        #expect(memtable.count == Int(commits) * 3)
    }
}
