import FaultInjection
import Foundation
import StoreCore
import StoreTestSupport
import Testing

@Suite("Power-loss model: holes")
struct CrashStateHoleTests {
    /// Two unsynced appends, the second spanning a page boundary: a state in which the second
    /// landed on the next page but not on the page it shares with the first leaves zeros below
    /// kept data. A real file system can persist that (the shared page was written back before
    /// the second write dirtied it again), but no store can tell it from damage to synced data,
    /// so the state must say it may be refused.
    @Test("a write kept on a later page but lost on the page it shares with an earlier write is a hole")
    func partlyKeptWriteIsAHole() throws {
        let scratch = try ScratchDirectory("model-holes")
        let path = scratch.child("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let power = try PowerLossFileSystem(directory: path, seed: 11)
        let fd = try power.open(path + "/wal", mode: .createExclusive)
        try power.syncDirectory(path)
        let first = [UInt8](repeating: 1, count: 3000)
        let second = [UInt8](repeating: 2, count: 2000)
        for (bytes, offset) in [(first, 0), (second, 3000)] {
            _ = try bytes.withUnsafeBytes { buffer throws(SystemCallError) in try power.pwrite(fd, from: buffer, at: Int64(offset)) }
        }
        power.cut()
        var holes = 0
        for index in 1..<200 {
            let state = power.crashState(index)
            let bytes = state.files["wal"] ?? []
            guard bytes.count > 4096 else { continue }
            // The second write's part on page 1 is there, its part on page 0 is not.
            let lostBelow = bytes[3000..<4096].contains { $0 != 2 }
            let keptAbove = bytes[4096..<min(bytes.count, 5000)].allSatisfy { $0 == 2 }
            guard lostBelow && keptAbove else { continue }
            holes += 1
            #expect(state.mayBeRefused, "state \(index) (\(state.summary)) has a hole below kept data")
        }
        #expect(holes > 0, "the seed draws states with the hole")
    }
}
