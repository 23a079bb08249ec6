import StoreCore
import Workload

/// Release-build measurements of the building blocks every engine leans on (`storebench
/// microbench`): CRC32C, varints, the ordered map, trace files, the device's fsync rate.
public enum Microbenchmarks {
    /// How many `write 4 KiB + fdatasync` rounds the device behind the temporary directory
    /// takes per second, overwriting one block and appending: the ceiling for commits that
    /// each need a sync (what `--durability always` engines are measured against).
    public static func fsyncRates(seconds: Double, under parent: String? = nil) throws -> (overwrite: Double, append: Double) {
        let path = try TemporaryDirectory.make(under: parent)
        defer { try? StorageDirectory.destroy(path, fileSystem: PosixFileSystem()) }
        let directory = StorageDirectory(path: path, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
        let file = try directory.create("fsync.bench")
        defer { file.close() }
        let block = [UInt8](repeating: 0x5A, count: 4096)
        var rates: [Double] = []
        for appending in [false, true] {
            var rounds = 0
            let start = MonotonicClock.now()
            while MonotonicClock.seconds(since: start) < seconds {
                try file.write(block, at: appending ? Int64(rounds) * 4096 : 0)
                try file.syncData()
                rounds += 1
            }
            rates.append(Double(rounds) / MonotonicClock.seconds(since: start))
        }
        return (rates[0], rates[1])
    }

    /// Writes a db_bench fillrandom trace and reads it back; records per second both ways.
    public static func traceRates(operations: Int) throws -> (write: Double, read: Double, bytes: Int) {
        let directory = try TemporaryDirectory.make()
        defer { try? StorageDirectory.destroy(directory, fileSystem: PosixFileSystem()) }
        let path = directory + "/bench.trace"
        var generator = try DBBenchGenerator(spec: WorkloadSpec(name: "microbench", ["benchmark": "fillrandom", "num": String(operations)]), seed: 3)
        var operation = WorkloadOperation(.get)
        var start = MonotonicClock.now()
        let writer = try TraceWriter(path: path, header: generator.header)
        while try generator.next(into: &operation) { try writer.append(operation) }
        try writer.finish()
        let writeRate = Double(operations) / MonotonicClock.seconds(since: start)
        start = MonotonicClock.now()
        var reader = try TraceReader(path: path)
        var keyBytes = 0
        while try reader.next(into: &operation) { keyBytes &+= operation.key.count }
        let readRate = Double(reader.count) / MonotonicClock.seconds(since: start)
        guard reader.count == operations, keyBytes == operations * 16 else {
            throw StoreError.corrupted(file: path, offset: 0, reason: "read back \(reader.count) records")
        }
        let size = try StorageDirectory(path: directory, fileSystem: PosixFileSystem(), metrics: StoreMetrics()).status(of: "bench.trace")?.size ?? 0
        return (writeRate, readRate, Int(size))
    }

    /// Checksums a 64 MiB pool in `bufferSize` pieces for `seconds`; GB/s (10⁹ bytes).
    public static func crc32cThroughput(bufferSize: Int, seconds: Double, _ checksum: (UnsafeRawBufferPointer, UInt32) -> UInt32) throws -> Double {
        guard Array("123456789".utf8).withUnsafeBytes({ checksum($0, 0) }) == 0xE306_9283 else {
            throw StoreError.corrupted(file: "crc32c", offset: 0, reason: "check value mismatch: the implementation is wrong")
        }
        var random = SeededRandom(seed: 7)
        let pool = random.bytes(64 << 20)
        var bytes = 0
        var sink: UInt32 = 0
        let start = MonotonicClock.now()
        pool.withUnsafeBytes { all in
            while MonotonicClock.seconds(since: start) < seconds {
                var offset = 0
                while offset + bufferSize <= all.count {
                    sink ^= checksum(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + bufferSize)]), 0)
                    offset += bufferSize
                    bytes += bufferSize
                }
            }
        }
        let elapsed = MonotonicClock.seconds(since: start)
        if sink == 0x1234_5678 { print("", terminator: "") }  // keeps the loop from being optimised away
        return Double(bytes) / elapsed / 1e9
    }

    public static func varintRates(seconds: Double) -> (encode: Double, decode: Double) {
        var random = SeededRandom(seed: 11)
        let values = (0..<1_000_000).map { _ in random.next() >> UInt64(random.below(64)) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(values.count * 10)
        var encoded = 0
        var start = MonotonicClock.now()
        while MonotonicClock.seconds(since: start) < seconds / 2 {
            buffer.removeAll(keepingCapacity: true)
            for value in values { buffer.appendVarint(value) }
            encoded += values.count
        }
        let encodeRate = Double(encoded) / MonotonicClock.seconds(since: start)
        var decoded = 0
        var sum: UInt64 = 0
        start = MonotonicClock.now()
        buffer.withUnsafeBytes { bytes in
            while MonotonicClock.seconds(since: start) < seconds / 2 {
                var reader = ByteReader(bytes)
                while let value = reader.readVarint() { sum &+= value }
                decoded += values.count
            }
        }
        if sum == 42 { print("", terminator: "") }
        return (encodeRate, Double(decoded) / MonotonicClock.seconds(since: start))
    }

    public static func keyMapRates(count: Int) -> (insert: Double, lookup: Double) {
        var random = SeededRandom(seed: 13)
        let keys = (0..<count).map { _ in random.bytes(16) }
        let map = OrderedKeyMap<Int>()
        var start = MonotonicClock.now()
        for (index, key) in keys.enumerated() { map.insert(index, forKey: key) }
        let insertRate = Double(count) / MonotonicClock.seconds(since: start)
        var hits = 0
        start = MonotonicClock.now()
        for key in keys.shuffled(using: &random) where map.value(forKey: key) != nil { hits += 1 }
        let lookupRate = Double(count) / MonotonicClock.seconds(since: start)
        precondition(hits == count, "ordered map lost keys")
        return (insertRate, lookupRate)
    }
}
