@testable import LSMTree
import StoreCore
import Testing

@Suite("lsm SST block")
struct BlockTests {
    /// Keys with long shared prefixes (so prefix compression matters), every 7th a tombstone.
    static let entries: [(key: [UInt8], value: [UInt8]?)] = (0..<100).map { number in
        (numberedKey(number * 3, prefix: "user/profile/"), number % 7 == 3 ? nil : numberedValue(number, size: number % 5 * 10))
    }

    static func build(_ entries: [(key: [UInt8], value: [UInt8]?)], restartInterval: Int) -> [UInt8] {
        var builder = BlockBuilder(restartInterval: restartInterval)
        for (key, value) in entries {
            key.withUnsafeBytes { key in
                if let value { value.withUnsafeBytes { builder.add(key, $0) } } else { builder.add(key, nil) }
            }
        }
        return builder.finish()
    }

    static func value(_ cursor: BlockCursor) -> [UInt8]? {
        cursor.valueRange.map { Array(cursor.block.bytes[$0]) }
    }

    @Test("encode then decode: every entry in order, restart points every N entries, keys prefix-compressed",
          arguments: [1, 4, 16])
    func roundTrip(restartInterval: Int) throws {
        let bytes = Self.build(Self.entries, restartInterval: restartInterval)
        let block = try Block(bytes: bytes, path: "block", offset: 0)
        #expect(block.restartCount == (Self.entries.count + restartInterval - 1) / restartInterval)
        if restartInterval > 1 {
            let uncompressed = Self.build(Self.entries, restartInterval: 1)
            let saved = uncompressed.count - bytes.count
            #expect(saved > Self.entries.count * 10, "shared prefixes are stored once per restart run: \(saved) bytes saved")
        }
        // Each restart point starts an entry whose key is stored whole.
        for index in 0..<block.restartCount {
            var cursor = BlockCursor(block: block, path: "block", blockOffset: 0)
            #expect(try cursor.seekToFirst())
            var reached = 0
            while reached < index * restartInterval { _ = try cursor.advance(); reached += 1 }
            #expect(cursor.current == block.restart(index))
            #expect(bytes[block.restart(index)] == 0, "restart entry shares nothing with the one before")
        }
        var cursor = BlockCursor(block: block, path: "block", blockOffset: 0)
        var decoded: [(key: [UInt8], value: [UInt8]?)] = []
        var more = try cursor.seekToFirst()
        while more {
            decoded.append((cursor.key, Self.value(cursor)))
            more = try cursor.advance()
        }
        #expect(decoded.count == Self.entries.count)
        for (got, want) in zip(decoded, Self.entries) {
            #expect(got.key == want.key)
            #expect(got.value == want.value)
        }
        #expect(!cursor.isValid)
    }

    @Test("seek lands on the first key ≥ the target: exact keys, keys between, before the first, after the last",
          arguments: [1, 4, 16])
    func seek(restartInterval: Int) throws {
        let block = try Block(bytes: Self.build(Self.entries, restartInterval: restartInterval), path: "block", offset: 0)
        for number in -1...(Self.entries.count * 3 + 1) {
            let target = number < 0 ? [] : numberedKey(number, prefix: "user/profile/")
            var cursor = BlockCursor(block: block, path: "block", blockOffset: 0)
            let found = try target.withUnsafeBytes { try cursor.seek($0) }
            let expected = Self.entries.firstIndex { !KeyOrder.less($0.key, target) }
            #expect(found == (expected != nil), "seek \(number)")
            if let expected, found {
                #expect(cursor.key == Self.entries[expected].key, "seek \(number)")
                #expect(Self.value(cursor) == Self.entries[expected].value, "seek \(number)")
                // The cursor goes on from there.
                if expected + 1 < Self.entries.count {
                    #expect(try cursor.advance())
                    #expect(cursor.key == Self.entries[expected + 1].key)
                }
            }
        }
    }

    @Test("an empty block has one restart point and no entries")
    func emptyBlock() throws {
        let block = try Block(bytes: Self.build([], restartInterval: 16), path: "block", offset: 0)
        var cursor = BlockCursor(block: block, path: "block", blockOffset: 0)
        #expect(try !cursor.seekToFirst())
        #expect(try ![UInt8]("a".utf8).withUnsafeBytes { try cursor.seek($0) })
    }

    @Test("a damaged trailer or entry is reported with the block's file and offset, never a crash")
    func damage() throws {
        let bytes = Self.build(Array(Self.entries.prefix(20)), restartInterval: 4)
        // Restart count that does not fit, or a block too short for one.
        for bad in [[UInt8](), [1, 0], Array(bytes.dropLast(4)) + [0xFF, 0xFF, 0, 0], Array(bytes.dropLast(4)) + [0, 0, 0, 0]] {
            #expect(throws: StoreError.self) { try Block(bytes: bad, path: "t.sst", offset: 4096) }
        }
        // Any single damaged byte among the entries: decoding either fails with a corruption
        // error that names the file, or yields some entries — it never traps or reads outside.
        for index in 0..<(bytes.count - 4) {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = bytes
                damaged[index] ^= flip
                guard let block = try? Block(bytes: damaged, path: "t.sst", offset: 4096) else { continue }
                var cursor = BlockCursor(block: block, path: "t.sst", blockOffset: 4096)
                do {
                    var more = try cursor.seekToFirst()
                    var steps = 0
                    while more && steps < 1000 {
                        more = try cursor.advance()
                        steps += 1
                    }
                    _ = try Self.entries[10].key.withUnsafeBytes { try cursor.seek($0) }
                } catch let error as StoreError {
                    guard case let .corrupted(file, offset, _) = error else { throw error }
                    #expect(file == "t.sst")
                    #expect(offset >= 4096 && offset < 4096 + Int64(bytes.count), "offset \(offset) within the block")
                }
            }
        }
    }
}
