#if canImport(Glibc)
import Glibc
#endif
import ChunkStore
import FaultInjection
import Foundation
import StoreCore
import StoreTestSupport
import Testing

@Suite("cow read paths")
struct ReadPathTests {
    static func value(_ index: Int) -> [UInt8] { [UInt8](repeating: UInt8(index & 0xFF), count: 100) }

    /// A closed store of 2,000 keys; returns the root chunk's offset in the chunk file.
    static func makeStore(_ path: String) throws -> Int64 {
        let store = try openCow(path)
        for index in 0..<2_000 { try store.put(bytes("key-\(index)"), value(index)) }
        let offset = try store.chunkFile.fileOffset(of: store.chunkFile.root)
        try store.close()
        return offset
    }

    /// Flips one byte of `path`'s chunk file at `offset`, in place (the store may be open).
    static func flipByte(_ path: String, at offset: Int64) throws {
        let fd = open(path + "/" + ChunkFile.fileName, O_RDWR)
        try #require(fd >= 0)
        defer { close(fd) }
        var byte: UInt8 = 0
        try #require(pread(fd, &byte, 1, off_t(offset)) == 1)
        byte ^= 0x5A
        try #require(pwrite(fd, &byte, 1, off_t(offset)) == 1)
    }

    /// Whether `body` throws `corrupted` naming the chunk file and `offset`.
    static func failsAsCorrupt(at offset: Int64, _ body: () throws -> Void) -> Bool {
        do {
            try body()
            return false
        } catch let StoreError.corrupted(file, at, _) {
            return file.hasSuffix(ChunkFile.fileName) && at == offset
        } catch {
            return false
        }
    }

    @Test("the default read path maps the file: reads agree with the cached path, and statistics report the chunk cache as not used")
    func mappedByDefault() throws {
        let scratch = try ScratchDirectory("cow-read-mapped")
        let path = scratch.child("store")
        _ = try Self.makeStore(path)
        let mapped = try openCow(path)
        #expect(mapped.effectiveSettings["read_path"] == "mapped")
        #expect(mapped.chunkFile.readPath == .mapped)
        var value: [UInt8] = []
        for index in 0..<2_000 {
            #expect(try mapped.get(bytes("key-\(index)"), into: &value))
            #expect(value == Self.value(index))
        }
        #expect(try mapped.get(bytes("key-x"), into: &value) == false)
        let figures = try mapped.statistics()
        #expect(figures.cacheHits == nil && figures.cacheMisses == nil, "mapped reads are not cache lookups")
        #expect(mapped.chunkFile.cacheMisses == 0 && mapped.chunkFile.cacheHits == 0)
        let mappedEntries = try allEntries(mapped)
        try mapped.close()

        let cached = try openCow(path, ["read_path": "cached"])
        #expect(cached.chunkFile.readPath == .cached)
        #expect(try allEntries(cached) == mappedEntries)
        let cachedFigures = try cached.statistics()
        #expect(try #require(cachedFigures.cacheMisses) > 0)
        try cached.close()
    }

    @Test("each chunk's checksum is checked on its first mapped read after open: a flipped byte in the root fails the read naming the file and offset, as on the cached path",
          arguments: [ReadPath.mapped, .cached])
    func firstReadChecksChecksum(path readPath: ReadPath) throws {
        let scratch = try ScratchDirectory("cow-read-crc-\(readPath.rawValue)")
        let path = scratch.child("store")
        let rootOffset = try Self.makeStore(path)
        try Self.flipByte(path, at: rootOffset + 1_000)
        let store = try openCow(path, ["read_path": readPath.rawValue])
        #expect(store.chunkFile.readPath == readPath)
        #expect(Self.failsAsCorrupt(at: rootOffset) { _ = try store.get(bytes("key-7")) })
        // Not marked checked by the failure: the next read fails too.
        #expect(Self.failsAsCorrupt(at: rootOffset) { _ = try store.get(bytes("key-8")) })
        try store.close()
    }

    @Test("verification checks every mapped chunk again: bytes changed under an open store after they were read are found")
    func verificationRechecks() throws {
        let scratch = try ScratchDirectory("cow-read-verify")
        let path = scratch.child("store")
        let rootOffset = try Self.makeStore(path)
        let store = try openCow(path)
        defer { try? store.close() }
        #expect(try store.get(bytes("key-1")) == Self.value(1))
        _ = try store.verifyStructure()
        try Self.flipByte(path, at: rootOffset + 2_000)
        #expect(Self.failsAsCorrupt(at: rootOffset) { _ = try store.verifyStructure() })
    }

    @Test("rewrites reuse physical chunks under the mapping: a reused chunk is read with its new bytes, checked, and a reopened store reads the same")
    func reusedChunksReadNewBytes() throws {
        let scratch = try ScratchDirectory("cow-read-reuse")
        let path = scratch.child("store")
        let store = try openCow(path, ["chunk_size": "512"])
        var expected: [[UInt8]: [UInt8]] = [:]
        for round in 0..<6 {
            for index in 0..<300 {
                let value = [UInt8](repeating: UInt8((index + round) & 0xFF), count: 40 + round)
                try store.put(bytes("k\(index)"), value)
                expected[bytes("k\(index)")] = value
            }
            // Every key read back after each round of rewrites into reused chunks.
            #expect(try allEntries(store) == expected)
        }
        #expect(store.chunkFile.freeChunkCount > 0 || store.chunkFile.chunksWritten > store.chunkFile.chunkCount,
                "chunks were reused")
        _ = try store.verifyStructure()
        try store.close()
        let reopened = try openCow(path)
        #expect(try allEntries(reopened) == expected)
        try reopened.close()
    }

    @Test("a store on another file system than the plain POSIX one reads through the cache, so the file system sees every read")
    func faultFileSystemUsesCache() throws {
        let scratch = try ScratchDirectory("cow-read-faultfs")
        let path = scratch.child("store")
        _ = try Self.makeStore(path)
        let store = try ChunkStore(directory: path, options: StoreOptions(durability: .none, fileSystem: CrashingFileSystem()))
        #expect(store.effectiveSettings["read_path"] == "cached")
        #expect(try store.get(bytes("key-42")) == Self.value(42))
        #expect(try #require(try store.statistics().cacheMisses) > 0)
        try store.close()
    }

    @Test("read_path accepts mapped and cached only")
    func rejectsUnknownPath() throws {
        let scratch = try ScratchDirectory("cow-read-setting")
        #expect(throws: StoreError.self) { try openCow(scratch.child("store"), ["read_path": "mmap"]) }
    }
}
