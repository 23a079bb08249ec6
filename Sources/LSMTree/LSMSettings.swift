import StoreCore

/// The `lsm` engine's settings (`--set name=value`).
struct LSMSettings: Sendable {
    static let known: Set<String> = [
        "write_buffer_size", "block_size", "block_cache_size", "bloom_bits_per_key",
        "l0_compaction_trigger", "l0_slowdown_trigger", "l0_stop_trigger", "level1_size",
        "level_multiplier", "target_file_size", "preallocate", "recycle_wal",
    ]

    /// Memtable bytes after which it turns immutable and is flushed.
    var writeBufferSize: Int
    /// Uncompressed bytes per SST data block.
    var blockSize: Int
    var blockCacheBytes: Int
    var bloomBitsPerKey: Int
    /// L0 files that start an L0 → L1 compaction, slow writers down, stop them.
    var l0CompactionTrigger: Int
    var l0SlowdownTrigger: Int
    var l0StopTrigger: Int
    /// Target bytes of level 1; each level below holds `levelMultiplier` times more.
    var level1Size: Int
    var levelMultiplier: Int
    /// Compaction output files are cut at this size.
    var targetFileSize: Int
    /// Keep zero-filled, synced space ahead of the WAL's end, so a commit's fdatasync writes data
    /// only (no size or extent change to journal). Default: on under durability `always`, where
    /// every commit pays that sync; off otherwise, where the zeros would only add writes.
    var preallocate: Bool
    /// WAL files a flush made obsolete that are kept to become later WALs (renamed, their old
    /// records overwritten in place), so commits write into space the file already has without a
    /// zero-fill pass. Default: 2 under durability `always`, 0 otherwise (FORMAT.md, "Recycled
    /// WAL files").
    var recycleWAL: Int

    init(_ options: StoreOptions) throws {
        let settings = try options.engineSettings(for: LSMStore.engineName, known: Self.known)
        writeBufferSize = try settings.size("write_buffer_size", default: 4 << 20, range: (16 << 10)...(1 << 30))
        blockSize = try settings.size("block_size", default: 4 << 10, range: 256...(1 << 20))
        blockCacheBytes = try settings.size("block_cache_size", default: 8 << 20, range: 0...(1 << 40))
        bloomBitsPerKey = try settings.size("bloom_bits_per_key", default: 10, range: 0...32)
        l0CompactionTrigger = try settings.size("l0_compaction_trigger", default: 4, range: 1...100)
        l0SlowdownTrigger = try settings.size("l0_slowdown_trigger", default: 8, range: 1...1000)
        l0StopTrigger = try settings.size("l0_stop_trigger", default: 12, range: 1...1000)
        level1Size = try settings.size("level1_size", default: 10 << 20, range: (64 << 10)...(1 << 40))
        levelMultiplier = try settings.size("level_multiplier", default: 10, range: 2...100)
        targetFileSize = try settings.size("target_file_size", default: 2 << 20, range: (16 << 10)...(1 << 30))
        preallocate = try settings.flag("preallocate", default: options.durability == .always)
        recycleWAL = try settings.size("recycle_wal", default: options.durability == .always ? 2 : 0, range: 0...16)
        guard l0CompactionTrigger <= l0SlowdownTrigger, l0SlowdownTrigger <= l0StopTrigger else {
            throw StoreError.invalidArgument("lsm settings: need l0_compaction_trigger ≤ l0_slowdown_trigger ≤ l0_stop_trigger")
        }
    }

    /// Every setting with the value in effect, for results (`runs[].settings`), so that a
    /// comparison with a reference LSM can show which sizes both ran with.
    var effective: [String: String] {
        [
            "write_buffer_size": writeBufferSize, "block_size": blockSize, "block_cache_size": blockCacheBytes,
            "bloom_bits_per_key": bloomBitsPerKey, "l0_compaction_trigger": l0CompactionTrigger,
            "l0_slowdown_trigger": l0SlowdownTrigger, "l0_stop_trigger": l0StopTrigger, "level1_size": level1Size,
            "level_multiplier": levelMultiplier, "target_file_size": targetFileSize, "recycle_wal": recycleWAL,
        ].mapValues(String.init)
    }

    /// Target bytes of `level` (≥ 1).
    func targetBytes(level: Int) -> Int {
        var bytes = level1Size
        for _ in 1..<max(1, level) { bytes = bytes.multipliedReportingOverflow(by: levelMultiplier).overflow ? .max : bytes * levelMultiplier }
        return bytes
    }
}
