import AppendLog
import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport

func openLog(_ path: String, durability: Durability = .none, fileSystem: any FileSystem = PosixFileSystem(), _ settings: [String: String] = [:]) throws -> AppendLogStore {
    try AppendLogStore(directory: path, options: StoreOptions(durability: durability, fileSystem: fileSystem, settings: settings))
}

/// All entries of a store, in order.
func contents(_ store: any Store) throws -> [[UInt8]: [UInt8]] {
    var result: [[UInt8]: [UInt8]] = [:]
    try store.scan(from: [], limit: Int.max) { key, value in result[Array(key)] = Array(value) }
    return result
}

/// Segment files of a store directory, sorted.
func segmentFiles(_ path: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".log") }.sorted()
}

func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
}

func key(_ index: Int) -> [UInt8] {
    Array(String(format: "key-%08d", index).utf8)
}
