#if ReferenceEngines
import CLevelDB
import StoreCore

/// LevelDB's C API (Debian's libleveldb) for `LSMLibraryStore`.
enum LevelDBBinding: LSMLibraryBinding {
    static var name: String { "leveldb" }

    static func makeOptions(_ settings: LSMLibrarySettings) -> (options: OpaquePointer, releaseAfterClose: @Sendable () -> Void) {
        let options = leveldb_options_create()!
        leveldb_options_set_create_if_missing(options, 1)
        leveldb_options_set_compression(options, Int32(leveldb_no_compression))
        leveldb_options_set_write_buffer_size(options, settings.writeBufferSize)
        leveldb_options_set_block_size(options, settings.blockSize)
        leveldb_options_set_max_file_size(options, settings.targetFileSize)
        // LevelDB keeps pointers to its cache and filter policy: they live until after close.
        let cache = Handle(leveldb_cache_create_lru(settings.blockCacheBytes))
        leveldb_options_set_cache(options, cache.pointer)
        let filter = settings.bloomBitsPerKey > 0 ? Handle(leveldb_filterpolicy_create_bloom(Int32(settings.bloomBitsPerKey))) : nil
        if let filter { leveldb_options_set_filter_policy(options, filter.pointer) }
        return (options, {
            leveldb_cache_destroy(cache.pointer)
            if let filter { leveldb_filterpolicy_destroy(filter.pointer) }
        })
    }

    /// A C object handed to the release closure.
    private struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer?) { self.pointer = pointer! }
    }
    static func destroyOptions(_ options: OpaquePointer) { leveldb_options_destroy(options) }
    static func destroyReadOptions(_ options: OpaquePointer) { leveldb_readoptions_destroy(options) }
    static func destroyWriteOptions(_ options: OpaquePointer) { leveldb_writeoptions_destroy(options) }
    static func destroyBatch(_ batch: OpaquePointer) { leveldb_writebatch_destroy(batch) }
    static func destroyIterator(_ iterator: OpaquePointer) { leveldb_iter_destroy(iterator) }
    static func makeReadOptions() -> OpaquePointer { leveldb_readoptions_create() }
    static func makeWriteOptions(sync: Bool) -> OpaquePointer {
        let options = leveldb_writeoptions_create()!
        leveldb_writeoptions_set_sync(options, sync ? 1 : 0)
        return options
    }
    static func open(_ options: OpaquePointer, _ path: String, _ error: ErrorSlot) -> OpaquePointer? { leveldb_open(options, path, error) }
    static func close(_ database: OpaquePointer) { leveldb_close(database) }
    static func put(_ database: OpaquePointer, _ options: OpaquePointer, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ error: ErrorSlot) {
        leveldb_put(database, options, RocksDBBinding.pointer(key), key.count, RocksDBBinding.pointer(value), value.count, error)
    }
    static func delete(_ database: OpaquePointer, _ options: OpaquePointer, _ key: UnsafeRawBufferPointer, _ error: ErrorSlot) {
        leveldb_delete(database, options, RocksDBBinding.pointer(key), key.count, error)
    }
    static func get(_ database: OpaquePointer, _ options: OpaquePointer, _ key: UnsafeRawBufferPointer, _ length: UnsafeMutablePointer<Int>, _ error: ErrorSlot) -> UnsafeMutablePointer<CChar>? {
        leveldb_get(database, options, RocksDBBinding.pointer(key), key.count, length, error)
    }
    static func makeBatch() -> OpaquePointer { leveldb_writebatch_create() }
    static func batchPut(_ batch: OpaquePointer, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        leveldb_writebatch_put(batch, RocksDBBinding.pointer(key), key.count, RocksDBBinding.pointer(value), value.count)
    }
    static func batchDelete(_ batch: OpaquePointer, _ key: UnsafeRawBufferPointer) { leveldb_writebatch_delete(batch, RocksDBBinding.pointer(key), key.count) }
    static func write(_ database: OpaquePointer, _ options: OpaquePointer, _ batch: OpaquePointer, _ error: ErrorSlot) { leveldb_write(database, options, batch, error) }
    static func makeIterator(_ database: OpaquePointer, _ options: OpaquePointer) -> OpaquePointer { leveldb_create_iterator(database, options) }
    static func seek(_ iterator: OpaquePointer, _ key: UnsafeRawBufferPointer) { leveldb_iter_seek(iterator, RocksDBBinding.pointer(key), key.count) }
    static func isValid(_ iterator: OpaquePointer) -> Bool { leveldb_iter_valid(iterator) != 0 }
    static func next(_ iterator: OpaquePointer) { leveldb_iter_next(iterator) }
    static func key(_ iterator: OpaquePointer) -> UnsafeRawBufferPointer {
        var length = 0
        let bytes = leveldb_iter_key(iterator, &length)
        return UnsafeRawBufferPointer(start: bytes, count: length)
    }
    static func value(_ iterator: OpaquePointer) -> UnsafeRawBufferPointer {
        var length = 0
        let bytes = leveldb_iter_value(iterator, &length)
        return UnsafeRawBufferPointer(start: bytes, count: length)
    }
    static func iteratorError(_ iterator: OpaquePointer, _ error: ErrorSlot) { leveldb_iter_get_error(iterator, error) }
    static func compactAll(_ database: OpaquePointer) { leveldb_compact_range(database, nil, 0, nil, 0) }
    /// LevelDB has no log sync call: an empty batch written with `sync` syncs the log.
    static func sync(_ database: OpaquePointer, _ error: ErrorSlot) {
        let options = makeWriteOptions(sync: true)
        defer { destroyWriteOptions(options) }
        let batch = makeBatch()
        defer { destroyBatch(batch) }
        leveldb_write(database, options, batch, error)
    }
    static func property(_ database: OpaquePointer, _ name: String) -> UnsafeMutablePointer<CChar>? { leveldb_property_value(database, name) }
    static var pendingMaintenanceProperties: [String] { [] }
    /// LevelDB counts no cache hits.
    static func cacheCounts(_ options: OpaquePointer) -> (hits: Int, misses: Int)? { nil }
    static func free(_ pointer: UnsafeMutableRawPointer?) { leveldb_free(pointer) }
}

enum LevelDBStore {
    static let descriptor = EngineDescriptor(
        name: "leveldb", strategy: "LSM tree (LevelDB)",
        summary: "reference: libleveldb C API, leveled compaction, no compression",
        isPersistent: true, isReference: true
    ) { directory, options in try LSMLibraryStore<LevelDBBinding>(directory: directory, options: options) }
}
#endif
