import Foundation
import StoreCore
import StoreTestSupport
import Testing

@Suite("preallocated space")
struct PreallocatedSpaceTests {
    @Test("space ahead of the writer is zero-filled and synced before writes reach it, bounded by the limit")
    func staysAhead() throws {
        let scratch = try ScratchDirectory("prealloc-space")
        let directory = StorageDirectory(path: scratch.path, fileSystem: PosixFileSystem(), metrics: StoreMetrics())
        let file = try directory.create("file")
        let space = try PreallocatedSpace(file: file, start: 0, limit: 1 << 20, minimumLead: 8192, maximumLead: 64 << 10)
        #expect(space.end == 8192, "the first stretch is ready before the first write")
        #expect(try file.size() == 8192)
        var end = 0
        let record = [UInt8](repeating: 0xEE, count: 1000)
        for _ in 0..<1200 {
            try space.prepare(through: end + record.count)
            #expect(space.end >= end + record.count || end + record.count > 1 << 20)
            try file.write(record, at: Int64(end))
            end += record.count
        }
        space.finish()
        // Every record is intact: no fill wrote zeros over bytes already written.
        let bytes = try file.read(count: end, at: 0)
        #expect(bytes.allSatisfy { $0 == 0xEE })
        #expect(try file.size() == Int64(end), "past the limit, writes grow the file")
        file.close()
    }
}
