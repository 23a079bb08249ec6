@testable import LSMTree
import StoreCore
import StoreTestSupport
import Synchronization
import Testing

@Suite("lsm memtable")
struct MemtableTests {
    static func get(_ memtable: Memtable, _ key: [UInt8], snapshot: UInt64) -> [UInt8]?? {
        var value: [UInt8] = []
        let found = key.withUnsafeBytes { raw in memtable.get(raw, hash: BloomFilter.hash(raw), snapshot: snapshot, into: &value) }
        switch found {
        case nil: return nil
        case false?: return .some(nil)
        case true?: return .some(value)
        }
    }

    static func put(_ memtable: Memtable, _ key: [UInt8], _ value: [UInt8], _ sequence: UInt64) {
        memtable.beginWrite()
        key.withUnsafeBytes { key in value.withUnsafeBytes { memtable.put(key, $0, sequence: sequence) } }
        memtable.endWrite()
    }

    static func delete(_ memtable: Memtable, _ key: [UInt8], _ sequence: UInt64) {
        memtable.beginWrite()
        key.withUnsafeBytes { memtable.delete($0, sequence: sequence) }
        memtable.endWrite()
    }

    /// What a cursor yields from `start` (or the first key).
    static func entries(_ memtable: Memtable, snapshot: UInt64, from start: [UInt8]? = nil) -> [(key: [UInt8], value: [UInt8]?)] {
        let cursor = MemtableCursor(memtable, snapshot: snapshot)
        if let start { start.withUnsafeBytes { cursor.seek($0) } } else { cursor.seekToFirst() }
        var out: [(key: [UInt8], value: [UInt8]?)] = []
        while cursor.isValid {
            out.append((cursor.withKey { Array($0) }, cursor.withValue { $0.map { Array($0) } }))
            cursor.next()
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
        Self.delete(memtable, key, 4)
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
        #expect(memtable.count == 2 && memtable.maxSequence == 0, "noteCommit was not called")
    }

    @Test("two writes to one key in one commit: the later wins")
    func sameCommit() {
        let memtable = Memtable()
        let key = Array("dup".utf8)
        Self.put(memtable, key, [1], 7)
        Self.put(memtable, key, [2], 7)
        Self.delete(memtable, key, 7)
        Self.put(memtable, key, [3], 7)
        #expect(Self.get(memtable, key, snapshot: 7) == .some([3]))
        #expect(Self.entries(memtable, snapshot: 7).map(\.value) == [[3]])
        Self.delete(memtable, key, 8)
        #expect(Self.get(memtable, key, snapshot: 8) == .some(nil))
        memtable.noteCommit(8)
        #expect(memtable.maxSequence == 8 && memtable.commits == 1)
    }

    @Test("many keys in random order come out sorted across cursor batches; seek finds the first key at or after any target")
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
        #expect(all.count > MemtableCursor.batch * 10)
        #expect(all.map(\.key) == sorted)
        #expect(all.allSatisfy { model[$0.key] == $0.value })
        for number in stride(from: 0, to: 3100, by: 97) {
            let target = numberedKey(number)
            let expected = sorted.first { !KeyOrder.less($0, target) }
            #expect(Self.entries(memtable, snapshot: .max, from: target).first?.key == expected)
        }
        #expect(memtable.approximateBytes >= sorted.count * (11 + Memtable.entryOverhead))
    }

    @Test("the key filter never hides a key the memtable holds, and turns most others away")
    func filter() {
        let memtable = Memtable(writeBufferSize: 1 << 20)
        for number in 0..<5000 { Self.put(memtable, numberedKey(number), [1], UInt64(number + 1)) }
        let hashes = { (key: [UInt8]) in key.withUnsafeBytes { BloomFilter.hash($0) } }
        #expect((0..<5000).allSatisfy { memtable.mayContain(hash: hashes(numberedKey($0))) })
        let strangers = (0..<50_000).filter { memtable.mayContain(hash: hashes(numberedKey($0, prefix: "other"))) }.count
        #expect(strangers < 50_000 / 20, "\(strangers) false positives in 50000")
    }
}

@Suite("lsm memtable concurrency")
struct MemtableConcurrencyTests {
    /// One writer adds commits that each write three keys (the same counter in all); readers
    /// check that at any snapshot they take, gets and scans show exactly that commit.
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
                    memtable.beginWrite()
                    for key in [keys[0], keys[2 + Int(sequence % 50)], keys[1]] {
                        key.withUnsafeBytes { key in value.withUnsafeBytes { memtable.put(key, $0, sequence: sequence) } }
                    }
                    memtable.noteCommit(sequence)
                    memtable.endWrite()
                    published.store(sequence, ordering: .releasing)
                }
                return
            }
            let decode = { (value: [UInt8]??) -> UInt64? in value??.withUnsafeBytes { $0.load(as: UInt64.self) } }
            var checks = 0
            while published.load(ordering: .acquiring) < commits || checks < 100 {
                checks += 1
                let snapshot = published.load(ordering: .acquiring)
                guard snapshot > 0 else { continue }
                try expectEqual(decode(MemtableTests.get(memtable, keys[0], snapshot: snapshot)), snapshot, "alpha at snapshot \(snapshot)")
                try expectEqual(decode(MemtableTests.get(memtable, keys[1], snapshot: snapshot)), snapshot, "omega at snapshot \(snapshot)")
                if checks % 50 == 0 {
                    let scanned = MemtableTests.entries(memtable, snapshot: snapshot)
                    try expect(zip(scanned, scanned.dropFirst()).allSatisfy { KeyOrder.less($0.key, $1.key) }, "scan in order")
                    try expect(scanned.allSatisfy { (decode($0.value) ?? 0) <= snapshot }, "scan sees nothing above its snapshot")
                    try expectEqual(scanned.first.flatMap { decode($0.value) }, snapshot, "alpha in a scan at \(snapshot)")
                    try expectEqual(scanned.last.flatMap { decode($0.value) }, snapshot, "omega in a scan at \(snapshot)")
                }
            }
        }
        #expect(memtable.count == 52)
    }
}
