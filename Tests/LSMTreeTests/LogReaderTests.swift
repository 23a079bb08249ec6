@testable import LSMTree
import StoreCore
import StoreTestSupport
import Testing

@Suite("lsm log reader")
struct LogReaderTests {
    /// Records of assorted sizes: small ones, one that fills a block exactly, one that spans
    /// several blocks (FIRST, MIDDLE…, LAST fragments), one empty.
    static let records: [[UInt8]] = [
        numberedValue(1, size: 10),
        // Leaves 3 bytes of the first block, too few for a header: they are zero-filled.
        numberedValue(2, size: LogFormat.blockSize - 2 * LogFormat.headerSize - 10 - 3),
        numberedValue(3, size: 3),
        numberedValue(4, size: 3 * LogFormat.blockSize + 100),
        [],
        numberedValue(5, size: 500),
        numberedValue(6, size: 40),
    ]

    /// The framed bytes of `records`, written through `LogWriter`, and each record's end.
    static func written(_ records: [[UInt8]]) throws -> (bytes: [UInt8], ends: [Int]) {
        let (scratch, storage) = try scratchStorage("log-writer")
        defer { scratch.remove() }
        let writer = LogWriter(file: try storage.create("000001.log"), offset: 0)
        var ends: [Int] = []
        for record in records {
            try writer.append(record)
            ends.append(writer.offset)
        }
        return (try storage.readAll("000001.log"), ends)
    }

    @Test("records of every size read back in order, across block boundaries")
    func roundTrip() throws {
        let (bytes, ends) = try Self.written(Self.records)
        let result = try LogReader.read(bytes, path: "wal")
        #expect(result.records.map(\.bytes) == Self.records)
        #expect(result.validEnd == bytes.count)
        #expect(result.tornBytes == 0)
        #expect(ends.last == bytes.count)
        #expect(bytes.count > 4 * LogFormat.blockSize, "the big record spans blocks")
        #expect(ends[1] == LogFormat.blockSize - 3 && bytes[(LogFormat.blockSize - 3)..<LogFormat.blockSize].allSatisfy { $0 == 0 })
        #expect(result.records[2].offset == LogFormat.blockSize, "the next record starts in the next block")
    }

    @Test("a tail cut anywhere in the last record is torn: the records before it survive, the cut bytes are counted")
    func tornTail() throws {
        let (bytes, ends) = try Self.written(Self.records)
        let lastStart = ends[ends.count - 2]
        for length in lastStart..<bytes.count {
            let result = try LogReader.read(Array(bytes.prefix(length)), path: "wal")
            #expect(result.records.map(\.bytes) == Array(Self.records.dropLast()), "cut at \(length)")
            #expect(result.validEnd == lastStart)
            #expect(result.tornBytes == length - lastStart)
        }
        // A cut inside the multi-block record loses it and everything after.
        let bigStart = ends[2]
        for length in stride(from: bigStart + 1, to: ends[3], by: 4099) {
            let result = try LogReader.read(Array(bytes.prefix(length)), path: "wal")
            #expect(result.records.map(\.bytes) == Array(Self.records.prefix(3)), "cut at \(length)")
            #expect(result.tornBytes == length - result.validEnd)
        }
    }

    @Test("zeros after the last record (a preallocated or partly written tail) are a torn tail, not corruption")
    func zeroTail() throws {
        let (bytes, _) = try Self.written(Self.records)
        let result = try LogReader.read(bytes + [UInt8](repeating: 0, count: 5000), path: "wal")
        #expect(result.records.map(\.bytes) == Self.records)
        #expect(result.validEnd == bytes.count)
        #expect(result.tornBytes == 5000)
    }

    @Test("a flipped byte in a complete record with data after it is corruption, reported with the file and the fragment's offset")
    func corruptBlock() throws {
        let (bytes, ends) = try Self.written(Self.records)
        // Every byte of the first record (header and payload); then bytes of the middle of the big record.
        let targets = Array(0..<ends[0]) + [ends[2] + LogFormat.blockSize + 3, ends[4] + 2]
        for index in targets {
            var damaged = bytes
            damaged[index] ^= 0x04
            do {
                let result = try LogReader.read(damaged, path: "wal-file")
                Issue.record("byte \(index): read \(result.records.count) records without an error")
            } catch let error as StoreError {
                guard case let .corrupted(file, offset, _) = error else { throw error }
                #expect(file == "wal-file")
                #expect(offset <= Int64(index) && offset >= Int64(index) - Int64(LogFormat.blockSize), "byte \(index): offset \(offset)")
            }
        }
    }

    @Test("a fragment type out of order (a LAST without a FIRST, a FIRST inside a record) is corruption")
    func fragmentOrder() throws {
        // Two records framed alone, then spliced so a MIDDLE/LAST fragment appears without its FIRST.
        let (bytes, _) = try Self.written([numberedValue(9, size: LogFormat.blockSize + 50), numberedValue(8, size: 20)])
        let second = Array(bytes[LogFormat.blockSize...])  // starts with the LAST fragment of record 1
        #expect(throws: StoreError.self) { try LogReader.read(second + [UInt8](repeating: 1, count: 40), path: "wal") }
    }
}
