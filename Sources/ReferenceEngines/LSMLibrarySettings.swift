#if ReferenceEngines
import StoreCore

/// The sizes RocksDB and LevelDB run with, by default the same as `lsm`'s (so write
/// amplification, stalls and cache behaviour compare like for like, not a 64 MiB memtable against
/// a 4 MiB one); each can be set with `--set rocksdb.NAME=VALUE` / `leveldb.NAME=VALUE`, under the
/// names `lsm` uses. LevelDB fixes its level sizes and L0 triggers (10 MiB base, 4/8/12), which are
/// `lsm`'s defaults too; it takes only the settings it has.
struct LSMLibrarySettings: Sendable {
    /// Defaults: `lsm`'s (`LSMSettings`; a test checks they agree).
    static let defaults: [String: Int] = [
        "write_buffer_size": 4 << 20, "block_size": 4 << 10, "block_cache_size": 8 << 20, "bloom_bits_per_key": 10,
        "level1_size": 10 << 20, "target_file_size": 2 << 20,
        "l0_compaction_trigger": 4, "l0_slowdown_trigger": 8, "l0_stop_trigger": 12,
    ]
    static let levelDBNames: Set<String> = ["write_buffer_size", "block_size", "block_cache_size", "bloom_bits_per_key", "target_file_size"]

    var writeBufferSize: Int
    var blockSize: Int
    var blockCacheBytes: Int
    var bloomBitsPerKey: Int
    var level1Size: Int
    var targetFileSize: Int
    var l0CompactionTrigger: Int
    var l0SlowdownTrigger: Int
    var l0StopTrigger: Int
    /// RocksDB only: keep its statistics, for the block cache's hit rate (`statistics`, on by default).
    var statistics: Bool
    /// The names this engine accepts, with the values in effect.
    let effective: [String: String]

    init(engine: String, options: StoreOptions) throws {
        let known = engine == "leveldb" ? Self.levelDBNames : Set(Self.defaults.keys).union(["statistics"])
        let settings = try options.engineSettings(for: engine, known: known)
        func size(_ name: String, _ range: ClosedRange<Int>) throws -> Int {
            try settings.size(name, default: Self.defaults[name]!, range: range)
        }
        writeBufferSize = try size("write_buffer_size", (16 << 10)...(1 << 30))
        blockSize = try size("block_size", 256...(1 << 20))
        blockCacheBytes = try size("block_cache_size", 0...(1 << 40))
        bloomBitsPerKey = try size("bloom_bits_per_key", 0...32)
        level1Size = try size("level1_size", (64 << 10)...(1 << 40))
        targetFileSize = try size("target_file_size", (16 << 10)...(1 << 30))
        l0CompactionTrigger = try size("l0_compaction_trigger", 1...100)
        l0SlowdownTrigger = try size("l0_slowdown_trigger", 1...1000)
        l0StopTrigger = try size("l0_stop_trigger", 1...1000)
        let values: [String: Int] = [
            "write_buffer_size": writeBufferSize, "block_size": blockSize, "block_cache_size": blockCacheBytes,
            "bloom_bits_per_key": bloomBitsPerKey, "level1_size": level1Size, "target_file_size": targetFileSize,
            "l0_compaction_trigger": l0CompactionTrigger, "l0_slowdown_trigger": l0SlowdownTrigger, "l0_stop_trigger": l0StopTrigger,
        ]
        statistics = engine == "rocksdb" ? try settings.flag("statistics", default: true) : false
        var effective = values.filter { known.contains($0.key) }.mapValues(String.init)
        if engine == "rocksdb" { effective["statistics"] = String(statistics) }
        self.effective = effective
    }
}
#endif
