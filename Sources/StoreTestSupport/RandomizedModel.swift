import MemoryStore
import StoreCore

/// A seeded random mix of gets, puts, deletes, batches, scans, syncs and compactions, run against
/// an engine and the `memory` oracle side by side: every result is compared as it happens, the
/// whole contents every 500 operations, at each reopen and at the end.
struct RandomizedModel {
    let seed: UInt64
    let operations: Int
    /// Close and reopen the store after this many operations (persistent engines only).
    let reopenEvery: Int?
    private var random: SeededRandom
    private let keys: [[UInt8]]

    init(seed: UInt64, operations: Int, reopenEvery: Int?) {
        self.seed = seed
        self.operations = operations
        self.reopenEvery = reopenEvery
        random = SeededRandom(seed: seed)
        // A small key space (so overwrites and deletes hit), with lengths 0...24 and any bytes.
        var keyRandom = SeededRandom(seed: seed ^ 0xABCD)
        var keySet: [[UInt8]] = [[]]
        while keySet.count < 600 {
            let key = keyRandom.bytes(1 + keyRandom.below(24))
            if !keySet.contains(key) { keySet.append(key) }
        }
        keys = keySet
    }

    private mutating func key() -> [UInt8] {
        keys[random.below(keys.count)]
    }

    private mutating func value() -> [UInt8] {
        random.below(50) == 0 ? random.bytes(4096 + random.below(8192)) : random.bytes(random.below(200))
    }

    mutating func run(open: () throws -> any Store) throws {
        let oracle = MemoryStore()
        var store = try open()
        defer { try? store.close() }
        for step in 0..<operations {
            let context = "seed \(seed), step \(step)"
            switch random.below(100) {
            case 0..<30:
                let key = key()
                try expectEqual(try store.get(key), try oracle.get(key), "\(context): get \(hex(key))")
            case 30..<60:
                let (key, value) = (key(), value())
                try store.put(key, value)
                try oracle.put(key, value)
            case 60..<70:
                let key = key()
                try store.delete(key)
                try oracle.delete(key)
            case 70..<82:
                var batch = WriteBatch()
                for _ in 0..<(1 + random.below(10)) {
                    if random.below(4) == 0 { batch.delete(key()) } else { batch.put(key(), value()) }
                }
                try store.apply(batch)
                try oracle.apply(batch)
            case 82..<95:
                let start = random.below(8) == 0 ? [] : key()
                let limit = random.below(30)
                let got = try store.scan(from: start, limit: limit)
                let want = try oracle.scan(from: start, limit: limit)
                try expectEqual(got.map(\.key), want.map(\.key), "\(context): scan keys from \(hex(start)) limit \(limit)")
                try expectEqual(got.map(\.value), want.map(\.value), "\(context): scan values from \(hex(start))")
            case 95..<98:
                try store.sync()
            default:
                try store.compact()
            }
            if step % 500 == 499 {
                try compareAll(store, oracle, "\(context): full comparison")
            }
            if let reopenEvery, step % reopenEvery == reopenEvery - 1 {
                try store.close()
                store = try open()
                try compareAll(store, oracle, "\(context): after reopen")
            }
        }
        try compareAll(store, oracle, "seed \(seed): at the end")
        if reopenEvery != nil {
            try store.close()
            store = try open()
            try compareAll(store, oracle, "seed \(seed): after the final reopen")
        }
    }

    private func compareAll(_ store: any Store, _ oracle: MemoryStore, _ context: String) throws {
        let got = try store.scan(from: [], limit: Int.max)
        let want = try oracle.scan(from: [], limit: Int.max)
        try expectEqual(got.count, want.count, "\(context): entry count")
        try expect(zip(got, want).allSatisfy { $0.key == $1.key && $0.value == $1.value }, "\(context): contents differ")
        if let keyCount = try store.statistics().keyCount {
            try expectEqual(keyCount, want.count, "\(context): statistics().keyCount")
        }
    }
}
