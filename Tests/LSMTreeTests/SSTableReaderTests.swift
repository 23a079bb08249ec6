import Foundation
@testable import LSMTree
import StoreCore
import StoreTestSupport
import Testing

@Suite("lsm SST reader")
struct SSTableReaderTests {
    static let entries: [(key: [UInt8], value: [UInt8]?)] = (0..<120).map { number in
        (numberedKey(number * 2), number % 9 == 4 ? nil : numberedValue(number, size: 16 + number % 13))
    }

    /// Opens `name` and reads every entry by iteration and by get. Returns what it read.
    static func readAll(_ storage: StorageDirectory, _ name: String) throws -> [(key: [UInt8], value: [UInt8]?)] {
        let reader = try SSTReader(number: 1, file: try storage.open(name))
        let iterator = SSTIterator(reader: reader, cache: nil)
        var read: [(key: [UInt8], value: [UInt8]?)] = []
        try iterator.seekToFirst()
        while iterator.isValid {
            read.append((iterator.key, iterator.withValue { $0.map { Array($0) } }))
            try iterator.next()
        }
        for (key, value) in entries {
            guard let found = try tableGet(reader, key) else {
                throw StoreError.corrupted(file: reader.path, offset: 0, reason: "test: \(key) missing")
            }
            if found != value { throw StoreError.corrupted(file: reader.path, offset: 0, reason: "test: \(key) has a wrong value") }
        }
        return read
    }

    @Test("gets, misses between keys, a full iteration and properties of a whole SST")
    func wholeTable() throws {
        let (scratch, storage) = try scratchStorage("sst-whole")
        defer { scratch.remove() }
        try writeTable(Self.entries, to: storage, name: "000001.sst", maxSequence: 77)
        let read = try Self.readAll(storage, "000001.sst")
        #expect(read.map(\.key) == Self.entries.map(\.key))
        #expect(read.map(\.value) == Self.entries.map(\.value))
        let reader = try SSTReader(number: 1, file: try storage.open("000001.sst"))
        #expect(reader.blockCount > 5, "small blocks: the index has many entries")
        #expect(reader.properties.maxSequence == 77)
        #expect(reader.properties.entries == Self.entries.count)
        #expect(reader.properties.tombstones == Self.entries.filter { $0.value == nil }.count)
        #expect(reader.properties.smallest == Self.entries.first!.key)
        #expect(reader.properties.largest == Self.entries.last!.key)
        for number in [-1, 1, 77, 239, 241] {
            #expect(try tableGet(reader, numberedKey(number)) == nil, "key \(number) was never written")
        }
        // Seek lands on the next key, across block boundaries.
        let iterator = SSTIterator(reader: reader, cache: nil)
        for number in stride(from: 1, to: 239, by: 10) {
            try numberedKey(number).withUnsafeBytes { try iterator.seek($0) }
            #expect(iterator.key == numberedKey(number + 1))
        }
        try numberedKey(1000).withUnsafeBytes { try iterator.seek($0) }
        #expect(!iterator.isValid)
    }

    @Test("every flipped byte: the open or the read fails with a corruption error naming the file and an offset in it, or the data reads back exactly")
    func flippedBytes() throws {
        let (scratch, storage) = try scratchStorage("sst-flip")
        defer { scratch.remove() }
        let contents = try writeTable(Self.entries, to: storage, name: "000001.sst")
        var detected = 0
        var harmless = 0
        for index in contents.indices {
            var damaged = contents
            damaged[index] ^= 0x10
            try storage.writeAtomically("000002.sst", contents: damaged)
            do {
                let read = try Self.readAll(storage, "000002.sst")
                // Only bytes no reader uses may change unnoticed (the footer's 4 zero bytes).
                #expect(read.map(\.key) == Self.entries.map(\.key) && read.map(\.value) == Self.entries.map(\.value),
                        "byte \(index) flipped: wrong data returned")
                harmless += 1
            } catch let error as StoreError {
                guard case let .corrupted(file, offset, _) = error else {
                    Issue.record("byte \(index): \(error)")
                    continue
                }
                #expect(file == storage.path(of: "000002.sst"), "byte \(index): \(error)")
                #expect(offset >= 0 && offset < Int64(contents.count), "byte \(index): offset \(offset)")
                detected += 1
            }
        }
        #expect(harmless <= 4, "only the footer's padding goes unchecked: \(harmless) harmless flips")
        #expect(detected + harmless == contents.count)
    }

    @Test("a truncated file: every length fails to open with a corruption error naming the file")
    func truncated() throws {
        let (scratch, storage) = try scratchStorage("sst-truncated")
        defer { scratch.remove() }
        let contents = try writeTable(Self.entries, to: storage, name: "000001.sst")
        for length in Array(0..<80) + Array(stride(from: 80, to: contents.count, by: 37)) + [contents.count - 1] {
            try storage.writeAtomically("000002.sst", contents: Array(contents.prefix(length)))
            do {
                _ = try SSTReader(number: 2, file: try storage.open("000002.sst"))
                Issue.record("a \(length)-byte prefix of a \(contents.count)-byte SST opened")
            } catch let error as StoreError {
                guard case let .corrupted(file, offset, reason) = error else {
                    Issue.record("length \(length): \(error)")
                    continue
                }
                #expect(file == storage.path(of: "000002.sst"))
                #expect(offset >= 0 && offset <= Int64(length), "length \(length): offset \(offset) (\(reason))")
            }
        }
    }

    @Test("a data block cut off after the open (file shrunk under a reader) is reported, not read past")
    func shrunkAfterOpen() throws {
        let (scratch, storage) = try scratchStorage("sst-shrunk")
        defer { scratch.remove() }
        let contents = try writeTable(Self.entries, to: storage, name: "000001.sst")
        let reader = try SSTReader(number: 1, file: try storage.open("000001.sst"))
        let file = try storage.open("000001.sst", writable: true)
        try file.truncate(to: Int64(contents.count / 2))
        file.close()
        #expect(throws: StoreError.self) { _ = try tableGet(reader, Self.entries.last!.key) }
    }
}
