import FaultInjection
import Foundation
import StoreCore
import StoreTestSupport
import Testing

@Suite("Power-loss model: which states may be refused")
struct CrashModelClassificationTests {
    /// Three unsynced appends, each crossing into the next 4 KiB page, as a log's commits do.
    /// A state whose file is a prefix of the appended bytes (a cut or torn tail) must not be
    /// classed as one a store may refuse; any other state (missing bytes below kept ones) must be
    /// — including one where a later page kept an append whose part in an earlier page was lost,
    /// as independent page writeback can leave.
    @Test("a state is refusable exactly when it is not an in-order prefix of the appends")
    func refusableExactlyWhenNotPrefix() throws {
        let scratch = try ScratchDirectory("model-classes")
        let path = scratch.child("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let power = try PowerLossFileSystem(directory: path, seed: 3)
        let fd = try power.open(path + "/log", mode: .createExclusive)
        try power.syncDirectory(path)
        let appends: [(offset: Int, count: Int)] = [(0, 3000), (3000, 3000), (6000, 3500)]
        var written: [UInt8] = []
        for (number, append) in appends.enumerated() {
            let bytes = [UInt8](repeating: UInt8(number + 1), count: append.count)
            _ = try bytes.withUnsafeBytes { buffer throws(SystemCallError) in try power.pwrite(fd, from: buffer, at: Int64(append.offset)) }
            written += bytes
        }
        power.cut()
        var prefixes = 0
        var splitAppends = 0
        for index in 1..<400 {
            let state = power.crashState(index)
            let bytes = state.files["log"] ?? []
            let isPrefix = bytes.count <= written.count && bytes == Array(written[..<bytes.count])
            let refusable = state.mayBeRefused
            if isPrefix {
                prefixes += 1
                #expect(!refusable, "\(state.summary): a prefix of \(bytes.count) bytes classed as refusable")
            } else {
                #expect(refusable, "\(state.summary): bytes missing below kept ones, classed as an in-order prefix")
            }
            // The second append kept in page 1 while its part in page 0 was lost.
            if bytes.count > 4096 && bytes[4096] == 2 && bytes[3000] != 2 { splitAppends += 1 }
        }
        #expect(prefixes > 0 && splitAppends > 0, "prefix states \(prefixes), states splitting an append across pages \(splitAppends)")
    }
}
