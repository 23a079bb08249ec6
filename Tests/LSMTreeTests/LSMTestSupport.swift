@testable import LSMTree
import StoreCore
import StoreTestSupport

/// A scratch directory opened through the durable file layer, for tests of single parts.
func scratchStorage(_ label: String) throws -> (scratch: ScratchDirectory, storage: StorageDirectory) {
    let scratch = try ScratchDirectory(label)
    return (scratch, StorageDirectory(path: scratch.path, fileSystem: PosixFileSystem(), metrics: StoreMetrics()))
}

/// Key `number` as a fixed-width decimal, so numeric and byte order agree.
func numberedKey(_ number: Int, prefix: String = "key") -> [UInt8] {
    let digits = String(number)
    return Array((prefix + String(repeating: "0", count: max(0, 8 - digits.count)) + digits).utf8)
}

/// A value that depends on the key number and a version.
func numberedValue(_ number: Int, version: Int = 0, size: Int = 24) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: number &* 31 &+ version &* 7 &+ $0) }
}

/// Writes an SST holding `entries` (ascending keys; `nil` values are tombstones) as `name`, and
/// returns its bytes.
@discardableResult
func writeTable(
    _ entries: [(key: [UInt8], value: [UInt8]?)], to storage: StorageDirectory, name: String,
    blockSize: Int = 256, bitsPerKey: Int = 10, maxSequence: UInt64 = 1
) throws -> [UInt8] {
    var builder = SSTBuilder(blockSize: blockSize, bitsPerKey: bitsPerKey)
    for (key, value) in entries {
        key.withUnsafeBytes { key in
            if let value { value.withUnsafeBytes { builder.add(key, $0) } } else { builder.add(key, nil) }
        }
    }
    let contents = builder.finish(maxSequence: maxSequence)
    try storage.writeAtomically(name, contents: contents)
    return contents
}

/// The entry for `key` in `reader`: `.some(nil)` for a tombstone, `nil` when absent.
func tableGet(_ reader: SSTReader, _ key: [UInt8], cache: BlockCache? = nil) throws -> [UInt8]?? {
    let found = try key.withUnsafeBytes { raw in try reader.get(raw, hash: BloomFilter.hash(raw), cache: cache) }
    switch found {
    case .absent: return nil
    case .deleted: return .some(nil)
    case let .value(block, range): return .some(Array(block.bytes[range]))
    }
}
