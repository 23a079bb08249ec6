#if ReferenceEngines
import CRocksDB
import StoreCore

/// RocksDB's C API (Debian's librocksdb) for `LSMLibraryStore`.
enum RocksDBBinding: LSMLibraryBinding {
    static var name: String { "rocksdb" }

    static func makeOptions(_ settings: LSMLibrarySettings) -> (options: OpaquePointer, releaseAfterClose: @Sendable () -> Void) {
        let options = rocksdb_options_create()!
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_options_set_compression(options, Int32(rocksdb_no_compression))
        rocksdb_options_set_write_buffer_size(options, settings.writeBufferSize)
        rocksdb_options_set_max_bytes_for_level_base(options, UInt64(settings.level1Size))
        rocksdb_options_set_target_file_size_base(options, UInt64(settings.targetFileSize))
        rocksdb_options_set_level0_file_num_compaction_trigger(options, Int32(settings.l0CompactionTrigger))
        rocksdb_options_set_level0_slowdown_writes_trigger(options, Int32(settings.l0SlowdownTrigger))
        rocksdb_options_set_level0_stop_writes_trigger(options, Int32(settings.l0StopTrigger))
        // The table options are copied into the options (the cache and filter are shared
        // pointers inside): the C wrappers can go at once.
        let table = rocksdb_block_based_options_create()!
        rocksdb_block_based_options_set_block_size(table, settings.blockSize)
        let cache = rocksdb_cache_create_lru(settings.blockCacheBytes)!
        rocksdb_block_based_options_set_block_cache(table, cache)
        if settings.bloomBitsPerKey > 0 {
            rocksdb_block_based_options_set_filter_policy(table, rocksdb_filterpolicy_create_bloom(Double(settings.bloomBitsPerKey)))
        }
        rocksdb_options_set_block_based_table_factory(options, table)
        // Counters for the block cache's hit rate (`statistics`); what they cost RocksDB is in
        // docs/FIGURES.md.
        if settings.statistics { rocksdb_options_enable_statistics(options) }
        rocksdb_cache_destroy(cache)
        rocksdb_block_based_options_destroy(table)
        return (options, {})
    }
    static func destroyOptions(_ options: OpaquePointer) { rocksdb_options_destroy(options) }
    static func destroyReadOptions(_ options: OpaquePointer) { rocksdb_readoptions_destroy(options) }
    static func destroyWriteOptions(_ options: OpaquePointer) { rocksdb_writeoptions_destroy(options) }
    static func destroyBatch(_ batch: OpaquePointer) { rocksdb_writebatch_destroy(batch) }
    static func destroyIterator(_ iterator: OpaquePointer) { rocksdb_iter_destroy(iterator) }
    static func makeReadOptions() -> OpaquePointer { rocksdb_readoptions_create() }
    static func makeWriteOptions(sync: Bool) -> OpaquePointer {
        let options = rocksdb_writeoptions_create()!
        rocksdb_writeoptions_set_sync(options, sync ? 1 : 0)
        return options
    }
    static func open(_ options: OpaquePointer, _ path: String, _ error: ErrorSlot) -> OpaquePointer? { rocksdb_open(options, path, error) }
    static func close(_ database: OpaquePointer) { rocksdb_close(database) }
    static func put(_ database: OpaquePointer, _ options: OpaquePointer, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ error: ErrorSlot) {
        rocksdb_put(database, options, pointer(key), key.count, pointer(value), value.count, error)
    }
    static func delete(_ database: OpaquePointer, _ options: OpaquePointer, _ key: UnsafeRawBufferPointer, _ error: ErrorSlot) {
        rocksdb_delete(database, options, pointer(key), key.count, error)
    }
    static func get(_ database: OpaquePointer, _ options: OpaquePointer, _ key: UnsafeRawBufferPointer, _ length: UnsafeMutablePointer<Int>, _ error: ErrorSlot) -> UnsafeMutablePointer<CChar>? {
        rocksdb_get(database, options, pointer(key), key.count, length, error)
    }
    static func makeBatch() -> OpaquePointer { rocksdb_writebatch_create() }
    static func batchPut(_ batch: OpaquePointer, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        rocksdb_writebatch_put(batch, pointer(key), key.count, pointer(value), value.count)
    }
    static func batchDelete(_ batch: OpaquePointer, _ key: UnsafeRawBufferPointer) { rocksdb_writebatch_delete(batch, pointer(key), key.count) }
    static func write(_ database: OpaquePointer, _ options: OpaquePointer, _ batch: OpaquePointer, _ error: ErrorSlot) { rocksdb_write(database, options, batch, error) }
    static func makeIterator(_ database: OpaquePointer, _ options: OpaquePointer) -> OpaquePointer { rocksdb_create_iterator(database, options) }
    static func seek(_ iterator: OpaquePointer, _ key: UnsafeRawBufferPointer) { rocksdb_iter_seek(iterator, pointer(key), key.count) }
    static func isValid(_ iterator: OpaquePointer) -> Bool { rocksdb_iter_valid(iterator) != 0 }
    static func next(_ iterator: OpaquePointer) { rocksdb_iter_next(iterator) }
    static func key(_ iterator: OpaquePointer) -> UnsafeRawBufferPointer {
        var length = 0
        let bytes = rocksdb_iter_key(iterator, &length)
        return UnsafeRawBufferPointer(start: bytes, count: length)
    }
    static func value(_ iterator: OpaquePointer) -> UnsafeRawBufferPointer {
        var length = 0
        let bytes = rocksdb_iter_value(iterator, &length)
        return UnsafeRawBufferPointer(start: bytes, count: length)
    }
    static func iteratorError(_ iterator: OpaquePointer, _ error: ErrorSlot) { rocksdb_iter_get_error(iterator, error) }
    static func compactAll(_ database: OpaquePointer) { rocksdb_compact_range(database, nil, 0, nil, 0) }
    static func sync(_ database: OpaquePointer, _ error: ErrorSlot) { rocksdb_flush_wal(database, 1, error) }
    static func property(_ database: OpaquePointer, _ name: String) -> UnsafeMutablePointer<CChar>? { rocksdb_property_value(database, name) }
    static var pendingMaintenanceProperties: [String] { ["rocksdb.mem-table-flush-pending", "rocksdb.num-running-flushes", "rocksdb.compaction-pending", "rocksdb.num-running-compactions"] }
    static func free(_ pointer: UnsafeMutableRawPointer?) { rocksdb_free(pointer) }

    /// The block cache tickers from RocksDB's statistics dump (`rocksdb.block.cache.hit COUNT : N`).
    static func cacheCounts(_ options: OpaquePointer) -> (hits: Int, misses: Int)? {
        guard let dump = rocksdb_options_statistics_get_string(options) else { return nil }
        defer { rocksdb_free(dump) }
        var hits: Int?
        var misses: Int?
        for line in String(cString: dump).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 4, fields[1] == "COUNT", let count = Int(fields[3]) else { continue }
            if fields[0] == "rocksdb.block.cache.hit" { hits = count }
            if fields[0] == "rocksdb.block.cache.miss" { misses = count }
        }
        guard let hits, let misses else { return nil }
        return (hits, misses)
    }

    /// A key or value's bytes as the C API takes them (a valid pointer even when empty).
    static func pointer(_ bytes: UnsafeRawBufferPointer) -> UnsafePointer<CChar> {
        (bytes.baseAddress ?? UnsafeRawPointer(emptyByte)).assumingMemoryBound(to: CChar.self)
    }
}

/// Where an empty key or value points: the C APIs take a pointer even for zero bytes.
nonisolated(unsafe) let emptyByte = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)

enum RocksDBStore {
    static let descriptor = EngineDescriptor(
        name: "rocksdb", strategy: "LSM tree (RocksDB)",
        summary: "reference: librocksdb C API, leveled compaction, no compression",
        isPersistent: true, isReference: true
    ) { directory, options in try LSMLibraryStore<RocksDBBinding>(directory: directory, options: options) }
}
#endif
