import AppendLog
import Foundation
import StoreCore
import StoreTestSupport
import Testing

/// The active segment under durability `always` is written into zero-filled space prepared ahead
/// of it: a crash leaves a file longer than its records, ending in zeros.
@Suite("log: preallocated segments")
struct PreallocationTests {
    /// Opens a store under `always`, writes 40 small puts and one large last put (several
    /// sectors), and copies the directory while the store is still open (as a crash leaves it).
    /// Returns the copy, the active segment's path in it and where the last record starts.
    func crashedCopy(_ scratch: ScratchDirectory) throws -> (copy: String, segment: String, lastStart: Int, lastEnd: Int) {
        let path = scratch.child("store")
        let store = try openLog(path, durability: .always)
        for index in 0..<40 { try store.put(key(index), Array(repeating: UInt8(index), count: 50)) }
        let active = try store.segmentSummaries().last!
        let lastStart = active.size
        try store.put(key(1000), Array(repeating: 0xCD, count: 3000))
        let lastEnd = try store.segmentSummaries().last!.size
        let copy = scratch.child("copy")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        try store.close()
        try? FileManager.default.removeItem(atPath: copy + "/LOCK")
        let segment = copy + "/" + (try segmentFiles(copy).last!)
        return (copy, segment, lastStart, lastEnd)
    }

    @Test("the file holds zeros past its last commit, and recovery stops there without calling it torn")
    func zeroTailIsNotTorn() throws {
        let scratch = try ScratchDirectory("log-prealloc")
        let (copy, segment, _, lastEnd) = try crashedCopy(scratch)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        #expect(bytes.count > lastEnd, "the active segment was preallocated")
        #expect(bytes[lastEnd...].allSatisfy { $0 == 0 })
        let store = try openLog(copy)
        #expect(store.recoveryReport.truncatedBytes == 0)
        #expect(store.recoveryReport.preallocatedBytes == bytes.count - lastEnd)
        #expect(try store.get(key(1000)) == Array(repeating: 0xCD, count: 3000))
        #expect(try store.get(key(39)) == Array(repeating: 39, count: 50))
        try store.close()
        #expect(try fileSize(segment) == lastEnd, "the zeros were cut off")
    }

    @Test("a crash after none of the last record, or after only its first sector: every earlier commit, not the torn one")
    func tornInPreallocatedSpace() throws {
        for written in [0, 512] {
            let scratch = try ScratchDirectory("log-prealloc-torn")
            let (copy, segment, lastStart, lastEnd) = try crashedCopy(scratch)
            var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
            // The sectors the crash did not reach still hold the zeros written ahead.
            bytes.replaceSubrange((lastStart + written)..<lastEnd, with: Data(count: lastEnd - lastStart - written))
            try bytes.write(to: URL(fileURLWithPath: segment))
            let store = try openLog(copy)
            #expect(try store.get(key(1000)) == nil, "the torn commit is gone (\(written) bytes written)")
            for index in 0..<40 { #expect(try store.get(key(index)) == Array(repeating: UInt8(index), count: 50)) }
            #expect((store.recoveryReport.truncatedBytes > 0) == (written > 0))
            try store.put(key(2000), [1])
            try store.close()
            let reopened = try openLog(copy)
            #expect(try reopened.get(key(2000)) == [1])
            try reopened.close()
        }
    }

    @Test("a sealed segment whose zeros a crash left in place ends at its last record")
    func sealedSegmentWithZeroTail() throws {
        let scratch = try ScratchDirectory("log-prealloc-sealed")
        let (copy, segment, _, lastEnd) = try crashedCopy(scratch)
        // A newer segment follows, so this one is no longer the newest.
        let newer = copy + "/ffff000000000000.log"
        FileManager.default.createFile(atPath: newer, contents: Data())
        let store = try openLog(copy)
        #expect(try store.get(key(1000)) == Array(repeating: 0xCD, count: 3000))
        #expect(store.segmentSummaries().first { $0.size == lastEnd } != nil)
        try store.close()
        #expect(try fileSize(segment) > lastEnd, "a sealed segment is only read")
    }
}
