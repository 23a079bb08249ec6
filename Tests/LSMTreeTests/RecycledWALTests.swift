import Foundation
@testable import LSMTree
import StoreCore
import StoreTestSupport
import Testing

/// Reads the records of WAL file `path` in the layout its name's number selects.
private func readWAL(_ path: String) throws -> LogReader.Result {
    let number = try #require(FileNames.number(of: URL(fileURLWithPath: path).lastPathComponent, .wal))
    return try LogReader.read([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), path: path, logNumber: number)
}

/// Key and value of commit `index` of a store: fixed widths, so every commit's WAL record has the
/// same size in every store and records of two stores line up.
private func key(_ prefix: String, _ index: Int) -> [UInt8] { bytes(prefix + String(1000 + index)) }
private func value(_ fill: UInt8) -> [UInt8] { [UInt8](repeating: fill, count: 100) }

@Suite("lsm recycled WAL")
struct RecycledWALTests {
    @Test("records framed with another log number after the end are stale: never returned, not torn, and corruption before them is not hidden")
    func staleRecordsAreNotRead() throws {
        let (scratch, storage) = try scratchStorage("lsm-recycle-reader")
        defer { scratch.remove() }
        // The file's earlier use: 40 records of log 7. Then its new use, log 9, overwrites the
        // first 10 in place with records of the same sizes, so an old header starts exactly
        // where the new records end.
        let old = (0..<40).map { numberedValue($0, version: 1, size: 90) }
        let new = (0..<10).map { numberedValue($0, version: 2, size: 90) }
        let file = try storage.create("000009.log")
        let earlier = LogWriter(file: file, offset: 0, logNumber: 7)
        for record in old { try earlier.append(record) }
        let later = LogWriter(file: file, offset: 0, logNumber: 9)
        var ends: [Int] = []
        for record in new {
            try later.append(record)
            ends.append(later.offset)
        }
        let bytes = try storage.readAll("000009.log")
        let result = try LogReader.read(bytes, path: "wal", logNumber: 9)
        #expect(result.records.map(\.bytes) == new)
        #expect(result.validEnd == ends.last)
        #expect(result.tornBytes == 0 && result.staleBytes == bytes.count - result.validEnd)
        // Read as log 7, the same bytes start with records of another number and have log 7's
        // after them: not a tail, corruption.
        #expect(throws: StoreError.self) { try LogReader.read(bytes, path: "wal", logNumber: 7) }
        // A flipped byte in a new record with new records after it: corruption at that record.
        var damaged = bytes
        damaged[ends[3] + 20] ^= 0x10
        do {
            _ = try LogReader.read(damaged, path: "wal-file", logNumber: 9)
            Issue.record("read a damaged record followed by records of its log")
        } catch let error as StoreError {
            guard case let .corrupted(file, offset, _) = error else { throw error }
            #expect(file == "wal-file" && offset == Int64(ends[3]))
        }
        // The same flip in the last new record is a torn tail (stale records follow it).
        var torn = bytes
        torn[ends[8] + 20] ^= 0x10
        let cut = try LogReader.read(torn, path: "wal", logNumber: 9)
        #expect(cut.records.map(\.bytes) == Array(new.prefix(9)) && cut.tornBytes > 0)
    }

    /// A store whose current WAL holds `own` commits (`mine…` keys), then the bytes of another
    /// store's WAL (`foreign…` keys, more commits, a different log number) from the same offset
    /// on: a WAL file recycled from that store. `crashed(ownPrefix:)` picks how much of the last
    /// own commit reached the file.
    private struct PlantedWAL {
        let scratch: ScratchDirectory
        let copy: String
        let log: String
        /// The store's WAL bytes and each record's start.
        let own: [UInt8]
        let ownStarts: [Int]
        let foreign: [UInt8]

        init(_ label: String, ownCommits: Int, bigLast: Bool = false) throws {
            scratch = try ScratchDirectory(label)
            // The foreign store: a fresh store, so its WAL is number 1.
            let other = try openLSM(scratch.child("other"), durability: .always)
            for index in 0..<(ownCommits + 30) { try other.put(key("foreign", index), value(0xF0)) }
            let (otherCopy, otherLog) = try crashCopy(of: scratch.child("other"), closing: other, to: scratch.child("other-copy"))
            _ = otherCopy
            foreign = [UInt8](try Data(contentsOf: URL(fileURLWithPath: otherLog)))
            // This store: reopened once, so its WAL has another number than the foreign one.
            let path = scratch.child("store")
            try openLSM(path, durability: .always).close()
            let store = try openLSM(path, durability: .always)
            for index in 0..<ownCommits {
                try store.put(key("mine000", index), bigLast && index == ownCommits - 1 ? [UInt8](repeating: 0x22, count: 3000) : value(0x11))
            }
            (copy, _) = try crashCopy(of: path, closing: store, to: scratch.child("copy"))
            // The newest WAL (an older, empty one from the first open is still there).
            let logs = try FileManager.default.contentsOfDirectory(atPath: copy).filter { $0.hasSuffix(".log") }.sorted()
            log = copy + "/" + logs.last!
            own = [UInt8](try Data(contentsOf: URL(fileURLWithPath: log)))
            let read = try readWAL(log)
            ownStarts = read.records.map(\.offset) + [read.validEnd]
            #expect(read.records.count == ownCommits)
            #expect(URL(fileURLWithPath: log).lastPathComponent != "000001.log")
            // Keys and values of equal sizes: the foreign records start where this store's do.
            let foreignStarts = try LogReader.read(foreign, path: otherLog, logNumber: 1).records.map(\.offset)
            #expect(Array(foreignStarts.prefix(ownCommits)) == Array(ownStarts.prefix(ownCommits)))
        }

        /// Writes the WAL: own records before `end`, own bytes up to `ownThrough`, the foreign
        /// WAL's bytes after.
        func plant(ownThrough: Int) throws {
            var bytes = Array(own[..<ownThrough])
            bytes += foreign[ownThrough...]
            try Data(bytes).write(to: URL(fileURLWithPath: log))
        }
    }

    @Test("a WAL recycled from a store with other keys: its valid old records after the current end are never replayed")
    func plantedForeignRecords() throws {
        let planted = try PlantedWAL("lsm-recycle-planted", ownCommits: 12)
        defer { planted.scratch.remove() }
        let end = planted.ownStarts.last!
        // The foreign record at the current end is whole and valid, with a higher sequence.
        #expect(try LogReader.read(planted.foreign, path: "other", logNumber: 1).records.count == 42)
        try planted.plant(ownThrough: end)
        let store = try openLSM(planted.copy, durability: .always)
        for index in 0..<12 { #expect(try store.get(key("mine000", index)) == value(0x11)) }
        var foreign = 0
        try store.scan(from: bytes("foreign"), limit: .max) { key, _ in if key.starts(with: bytes("foreign")) { foreign += 1 } }
        #expect(foreign == 0, "no record of the earlier use is replayed")
        #expect(store.recoveryReport.replayedCommits == 12 && store.recoveryReport.truncatedBytes == 0)
        try store.close()
    }

    @Test("a crash after none of the last commit, or after its first 512-byte sector, in a recycled WAL")
    func tornInRecycledWAL() throws {
        for written in [0, 512] {
            // The last own commit is a big one, so it spans several sectors.
            let planted = try PlantedWAL("lsm-recycle-torn-\(written)", ownCommits: 12, bigLast: true)
            defer { planted.scratch.remove() }
            let lastStart = planted.ownStarts[11]
            try planted.plant(ownThrough: lastStart + written)
            let store = try openLSM(planted.copy, durability: .always)
            for index in 0..<11 { #expect(try store.get(key("mine000", index)) == value(0x11)) }
            #expect(try store.get(key("mine000", 11)) == nil, "the torn commit is gone (\(written) bytes written)")
            var foreign = 0
            try store.scan(from: bytes("foreign"), limit: .max) { key, _ in if key.starts(with: bytes("foreign")) { foreign += 1 } }
            #expect(foreign == 0)
            #expect((store.recoveryReport.truncatedBytes > 0) == (written > 0))
            try store.put(bytes("after"), bytes("ok"))
            try store.close()
            let again = try openLSM(planted.copy)
            #expect(try again.get(bytes("after")) == bytes("ok"))
            #expect(try again.get(key("mine000", 10)) == value(0x11))
            try again.close()
        }
    }

    @Test("a flipped byte in the middle of a recycled WAL is corruption, reported with the file and offset")
    func corruptionInRecycledWAL() throws {
        let planted = try PlantedWAL("lsm-recycle-corrupt", ownCommits: 12)
        defer { planted.scratch.remove() }
        var bytes = Array(planted.own[..<planted.ownStarts.last!]) + planted.foreign[planted.ownStarts.last!...]
        bytes[planted.ownStarts[5] + 40] ^= 0x04
        try Data(bytes).write(to: URL(fileURLWithPath: planted.log))
        do {
            _ = try openLSM(planted.copy, durability: .always)
            Issue.record("opened a recycled WAL with a damaged record in the middle")
        } catch let error as StoreError {
            guard case let .corrupted(file, offset, _) = error else { throw error }
            #expect(file == planted.log && offset == Int64(planted.ownStarts[5]))
        }
    }

    @Test("with recycle_wal, flushed WALs are reused in place (their old records stay after the new ones) and every commit survives a crash")
    func walsAreRecycled() throws {
        for recycle in [2, 0] {
            let scratch = try ScratchDirectory("lsm-recycle-\(recycle)")
            let path = scratch.child("store")
            let store = try openLSM(path, durability: .always, ["write_buffer_size": "16KiB", "recycle_wal": "\(recycle)"])
            var expected: [[UInt8]: [UInt8]] = [:]
            for index in 0..<1500 {
                let k = key("k", index % 300)
                let v = numberedValue(index, size: 60)
                try store.put(k, v)
                expected[k] = v
            }
            try store.waitForMaintenance()
            for index in 0..<50 {
                try store.put(key("k", index), value(7))
                expected[key("k", index)] = value(7)
            }
            let (copy, _) = try crashCopy(of: path, closing: store, to: scratch.child("copy"))
            let logs = try FileManager.default.contentsOfDirectory(atPath: copy).filter { $0.hasSuffix(".log") }.sorted()
            var stale = 0
            for log in logs {
                let read = try readWAL(copy + "/" + log)
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: copy + "/" + log)))
                if bytes[read.validEnd...].contains(where: { $0 != 0 }) { stale += 1 }
            }
            if recycle > 0 {
                #expect(stale > 0, "a reused WAL holds its earlier use's records after its own: \(logs)")
            } else {
                #expect(stale == 0, "new WALs hold zeros after their records: \(logs)")
            }
            let reopened = try openLSM(copy, durability: .always)
            #expect(try entries(reopened) == expected)
            try reopened.close()
            scratch.remove()
        }
    }

    @Test("a format-2 store (legacy WAL records) opens, replays its WAL and is marked format 3")
    func formatTwoStoreOpens() throws {
        let scratch = try ScratchDirectory("lsm-format2")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let store = try openLSM(path, durability: .always)
        for index in 0..<20 { try store.put(key("k", index), value(UInt8(index))) }
        let (copy, _) = try crashCopy(of: path, closing: store, to: scratch.child("copy"))
        // Rewrite the WAL as a format-2 binary wrote it: the same records, legacy headers.
        let storage = StorageDirectory(path: copy, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
        let log = try #require(try storage.list().filter { $0.hasSuffix(".log") }.sorted().last)
        let records = try readWAL(copy + "/" + log).records
        #expect(records.count == 20)
        try storage.remove(log)
        let writer = LogWriter(file: try storage.create(log), offset: 0)
        for (_, record) in records { try writer.append(record) }
        writer.close()
        try storage.writeAtomically(StoreIdentity.fileName, contents: StoreIdentity(engine: "lsm", formatVersion: 2).encoded())
        let reopened = try openLSM(copy, durability: .always, ["write_buffer_size": "16KiB"])
        #expect(reopened.recoveryReport.replayedCommits == 20)
        for index in 0..<20 { #expect(try reopened.get(key("k", index)) == value(UInt8(index))) }
        let identity = try StoreIdentity.read(from: storage)
        #expect(identity?.formatVersion == LSMStore.formatVersion)
        // Enough commits to flush the legacy WAL away and recycle the store's own ones.
        for index in 0..<600 { try reopened.put(key("n", index), value(0x33)) }
        try reopened.close()
        let again = try openLSM(copy, durability: .always)
        for index in 0..<20 { #expect(try again.get(key("k", index)) == value(UInt8(index))) }
        #expect(try again.get(key("n", 599)) == value(0x33))
        try again.close()
    }
}
