@testable import LSMTree
import StoreCore
import Testing

@Suite("lsm merging iterator")
struct MergingIteratorTests {
    /// Three sources, newest first: a memtable, an SST, an older SST. Keys overlap so the same
    /// key appears in several sources with different values (and tombstones).
    static func sources(_ storage: StorageDirectory) throws -> (sources: [EntrySource], expected: [(key: [UInt8], value: [UInt8])]) {
        let newest = Memtable()
        var model: [[UInt8]: [UInt8]?] = [:]
        // Oldest first so the model ends with the newest value of each key.
        var oldest: [(key: [UInt8], value: [UInt8]?)] = []
        for number in stride(from: 0, to: 300, by: 2) { oldest.append((numberedKey(number), numberedValue(number, version: 1))) }
        var middle: [(key: [UInt8], value: [UInt8]?)] = []
        for number in stride(from: 0, to: 300, by: 3) {
            middle.append((numberedKey(number), number % 4 == 0 ? nil : numberedValue(number, version: 2)))
        }
        for (key, value) in oldest + middle { model[key] = value }
        for number in stride(from: 0, to: 300, by: 5) {
            let key = numberedKey(number)
            if number % 10 == 5 {
                newest.beginWrite(); key.withUnsafeBytes { newest.delete($0, sequence: UInt64(number)) }; newest.endWrite()
                model[key] = .some(nil)
            } else {
                let value = numberedValue(number, version: 3)
                newest.beginWrite(); key.withUnsafeBytes { key in value.withUnsafeBytes { newest.put(key, $0, sequence: UInt64(number)) } }; newest.endWrite()
                model[key] = value
            }
        }
        try writeTable(oldest, to: storage, name: "000001.sst")
        try writeTable(middle, to: storage, name: "000002.sst")
        let old = try SSTReader(number: 1, file: try storage.open("000001.sst"))
        let mid = try SSTReader(number: 2, file: try storage.open("000002.sst"))
        let expected = model.compactMap { key, value in value.map { (key: key, value: $0) } }.sorted { KeyOrder.less($0.key, $1.key) }
        return ([.memory(MemtableCursor(newest, snapshot: .max)), .table(SSTIterator(reader: mid, cache: nil)),
                 .level(LevelIterator(files: [old], cache: nil))], expected)
    }

    /// Entries from the iterator's position on, skipping tombstones as a scan does.
    static func drain(_ merged: inout MergingIterator, limit: Int = .max) throws -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        while merged.isValid && out.count < limit {
            if let value = merged.withValue({ $0.map { Array($0) } }) { out.append((merged.key, value)) }
            try merged.next()
        }
        return out
    }

    @Test("keys come out ascending, each once, with the newest source's value; tombstones hide older values")
    func newestWins() throws {
        let (scratch, storage) = try scratchStorage("merge")
        defer { scratch.remove() }
        let (sources, expected) = try Self.sources(storage)
        var merged = MergingIterator(sources)
        try merged.seekToFirst()
        let got = try Self.drain(&merged)
        #expect(got.map(\.key) == expected.map(\.key))
        #expect(got.map(\.value) == expected.map(\.value))
    }

    @Test("seek starts at the first key ≥ the target in every source")
    func seek() throws {
        let (scratch, storage) = try scratchStorage("merge-seek")
        defer { scratch.remove() }
        for start in [0, 1, 7, 149, 298, 299, 400] {
            let (sources, expected) = try Self.sources(storage)
            var merged = MergingIterator(sources)
            try merged.seek(numberedKey(start))
            let got = try Self.drain(&merged, limit: 20)
            let want = Array(expected.filter { !KeyOrder.less($0.key, numberedKey(start)) }.prefix(20))
            #expect(got.map(\.key) == want.map(\.key), "seek \(start)")
            #expect(got.map(\.value) == want.map(\.value), "seek \(start)")
            try storage.remove(["000001.sst", "000002.sst"])
        }
    }
}
