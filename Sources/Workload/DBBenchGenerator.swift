import StoreCore

/// Keys as RocksDB's db_bench makes them: the key number as 8 bytes big-endian, then zeros up to
/// the key size — so traces and db_bench runs address the same keys.
public enum DBBenchKey {
    @inline(__always)
    public static func write(_ number: Int, into key: inout [UInt8]) {
        key.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(number).bigEndian, toByteOffset: 0, as: UInt64.self)
        }
    }

    public static func make(_ number: Int, size: Int) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: max(size, 8))
        write(number, into: &key)
        return key
    }

    /// The number in a key made by `make`.
    @inline(__always)
    public static func number(_ key: UnsafeRawBufferPointer) -> Int {
        Int(truncatingIfNeeded: UInt64(bigEndian: key.loadUnaligned(as: UInt64.self)) & 0x7FFF_FFFF_FFFF_FFFF)
    }
}

/// db_bench's benchmarks as traces (`storebench.generator = dbbench`, `benchmark = NAME`):
/// fillseq, fillrandom (random keys with replacement), overwrite, readrandom, readseq,
/// deleterandom and seekrandom over key numbers `0..<num`. Benchmarks that need data first
/// (overwrite, the reads, deleterandom, seekrandom) get a fillseq load phase.
public struct DBBenchGenerator: OperationSource {
    public static let benchmarks = ["fillseq", "fillrandom", "overwrite", "readrandom", "readseq", "deleterandom", "seekrandom"]
    public let header: TraceHeader
    let benchmark: String
    let num: Int
    let keySize: Int
    let valueSize: Int
    let seekNexts: Int
    let loadCount: Int
    let runCount: Int
    var random: SeededRandom
    var emitted = 0

    public init(spec: WorkloadSpec, seed: UInt64) throws {
        benchmark = try spec.choice("benchmark", default: "fillrandom", allowed: Self.benchmarks)
        num = try spec.integer("num", default: try spec.integer("recordcount", default: 1_000_000))
        keySize = max(8, try spec.integer("keysize", default: 16))
        valueSize = try spec.integer("valuesize", default: 100)
        seekNexts = max(1, try spec.integer("seek_nexts", default: 10))
        guard num > 0 else { throw spec.invalid("num", "num must be positive") }
        try StoreLimits.check(keySize: keySize)
        try StoreLimits.check(valueSize: valueSize)
        loadCount = benchmark == "fillseq" || benchmark == "fillrandom" ? 0 : num
        runCount = benchmark == "readseq" ? (num + 99) / 100 : num
        random = SeededRandom(seed: seed)
        header = TraceHeader([
            ("source", "dbbench:\(benchmark)"), ("seed", String(seed)), ("load_operations", String(loadCount)),
            ("num", String(num)),
        ])
    }

    public mutating func next(into operation: inout WorkloadOperation) throws -> Bool {
        guard emitted < loadCount + runCount else { return false }
        defer { emitted += 1 }
        if operation.key.count != keySize { operation.key = [UInt8](repeating: 0, count: keySize) }
        operation.value = nil
        operation.timestamp = nil
        operation.valueSize = 0
        operation.scanCount = 0
        if emitted < loadCount {
            operation.kind = .put
            operation.valueSize = valueSize
            DBBenchKey.write(emitted, into: &operation.key)
            return true
        }
        let index = emitted - loadCount
        switch benchmark {
        case "fillseq":
            operation.kind = .put
            operation.valueSize = valueSize
            DBBenchKey.write(index, into: &operation.key)
        case "fillrandom", "overwrite":
            operation.kind = .put
            operation.valueSize = valueSize
            DBBenchKey.write(random.below(num), into: &operation.key)
        case "readrandom":
            operation.kind = .get
            DBBenchKey.write(random.below(num), into: &operation.key)
        case "readseq":
            operation.kind = .scan
            operation.scanCount = min(100, num - index * 100)
            DBBenchKey.write(index * 100, into: &operation.key)
        case "deleterandom":
            operation.kind = .delete
            DBBenchKey.write(random.below(num), into: &operation.key)
        default:  // seekrandom
            operation.kind = .scan
            operation.scanCount = seekNexts
            DBBenchKey.write(random.below(num), into: &operation.key)
        }
        return true
    }
}

/// Chooses the generator a spec asks for (`storebench.generator`, default `ycsb`).
public enum WorkloadGenerator {
    public static let names = ["ycsb", "dbbench"]

    public static func make(spec: WorkloadSpec, seed: UInt64) throws -> (header: TraceHeader, source: any OperationSource) {
        switch try spec.choice("storebench.generator", default: "ycsb", allowed: names) {
        case "dbbench":
            let generator = try DBBenchGenerator(spec: spec, seed: seed)
            return (generator.header, generator)
        default:
            let generator = try YCSBGenerator(spec: spec, seed: seed)
            return (generator.header, generator)
        }
    }
}
