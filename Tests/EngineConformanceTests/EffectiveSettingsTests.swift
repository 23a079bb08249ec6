import Engines
import StoreCore
import StoreTestSupport
import Testing

@Suite("Effective settings")
struct EffectiveSettingsTests {
    func effective(_ name: String, _ settings: [String: String] = [:]) throws -> [String: String] {
        let scratch = try ScratchDirectory("settings-\(name)")
        defer { scratch.remove() }
        var options = StoreOptions()
        options.settings = settings
        let store = try EngineRegistry.engine(named: name).open(scratch.child("store"), options)
        defer { try? store.close() }
        return store.effectiveSettings
    }

    @Test("lsm reports every setting it runs with, its defaults and what --set changed")
    func lsmReports() throws {
        let defaults = try effective("lsm")
        #expect(defaults["write_buffer_size"] == String(4 << 20))
        #expect(defaults.count == 11, "\(defaults.keys.sorted())")
        #expect(try effective("lsm", ["lsm.write_buffer_size": "1MiB"])["write_buffer_size"] == String(1 << 20))
        #expect(defaults["recycle_wal"] == "2", "on under durability always, the default")
    }

    /// Reference LSMs run with lsm's sizes by default, so write amplification and stalls compare
    /// like for like: every size a reference library takes equals lsm's.
    @Test("reference LSM libraries default to lsm's sizes", arguments: ["leveldb", "rocksdb"])
    func referencesMatchLSM(reference: String) throws {
        guard EngineRegistry.names.contains(reference) else { return }
        let ours = try effective("lsm")
        let theirs = try effective(reference)
        #expect(!theirs.isEmpty)
        // `statistics` is RocksDB's own switch, not a size.
        for (name, value) in theirs where name != "statistics" {
            #expect(ours[name] == value, "\(reference) \(name)=\(value), lsm \(ours[name] ?? "none")")
        }
    }

    @Test("RocksDB reports its block cache's hits and misses from its statistics, unless they are off")
    func rocksDBCacheCounts() throws {
        guard EngineRegistry.names.contains("rocksdb") else { return }
        let engine = try EngineRegistry.engine(named: "rocksdb")
        for statistics in [true, false] {
            let scratch = try ScratchDirectory("rocksdb-statistics")
            defer { scratch.remove() }
            let settings = ["rocksdb.statistics": String(statistics), "rocksdb.write_buffer_size": "64KiB"]
            let store = try engine.open(scratch.child("store"), StoreOptions(durability: .none, settings: settings))
            for index in 0..<3_000 { try store.put(bytes("key-\(index)"), [UInt8](repeating: 7, count: 100)) }
            try store.compact()
            for _ in 0..<2 { for index in 0..<3_000 { #expect(try store.get(bytes("key-\(index)")) != nil) } }
            let figures = try store.statistics()
            if statistics {
                let hits = try #require(figures.cacheHits)
                let misses = try #require(figures.cacheMisses)
                #expect(misses > 0 && hits > misses, "gets from SSTs go through the block cache: \(hits) hits, \(misses) misses")
            } else {
                #expect(figures.cacheHits == nil && figures.cacheMisses == nil)
            }
            try store.close()
        }
    }
}
