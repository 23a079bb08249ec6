import AppendLog
import FaultInjection
import Foundation
import StoreCore
import StoreTestSupport
import Testing

/// A sealed segment must be on stable storage before the next segment exists, whatever the
/// durability: otherwise a power loss can keep a newer segment's records and lose the sealed
/// one's unsynced tail, a state equal to no prefix of the commits.
@Suite("log: sealing syncs the segment")
struct SealDurabilityTests {
    /// The value of the `index`-th put: names its index, so a stray value is told apart.
    private static func value(_ index: Int) -> [UInt8] {
        Array(String(format: "value-%08d-", index).utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 80)
    }

    @Test("every power-loss state recovers a prefix of the commits, and sealed segments' commits survive", arguments: [Durability.none, .interval])
    func sealedSegmentsSurvive(durability: Durability) throws {
        let scratch = try ScratchDirectory("log-seal-sync")
        let path = scratch.child("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let power = try PowerLossFileSystem(directory: path, seed: 0x5EA1)
        // A long sync interval: only sealing makes anything durable here.
        let options = StoreOptions(durability: durability, syncIntervalMilliseconds: 60_000, fileSystem: power,
                                   settings: ["segment_size": "4KiB", "compaction_policy": "manual"])
        let store = try AppendLogStore(directory: path, options: options)
        let commits = 240
        for index in 0..<commits { try store.put(key(index), Self.value(index)) }
        let segments = store.segmentSummaries()
        #expect(segments.count >= 4, "the puts filled several segments (\(segments.count))")
        let sealedCommits = segments.dropLast().reduce(0) { $0 + $1.records }
        power.cut()
        _ = try? store.close()
        var checked = 0
        for index in 0..<24 {
            let state = power.crashState(index)
            try power.materialize(state)
            let reopened: AppendLogStore
            do {
                reopened = try openLog(path)
            } catch let error as StoreError {
                guard case .corrupted = error, state.mayBeRefused else {
                    Issue.record("\(durability) \(state.summary): open failed: \(error)")
                    continue
                }
                continue
            }
            defer { try? reopened.close() }
            checked += 1
            let found = try contents(reopened)
            // A prefix: keys 0 ..< count, each with its own value.
            let count = found.count
            let firstWrong = (0..<count).first { found[key($0)] != Self.value($0) }
            #expect(firstWrong == nil, "\(durability) \(state.summary): \(count) keys, but commit \(firstWrong ?? -1) is not there: no prefix")
            if index == 0 {
                #expect(count >= sealedCommits, "\(durability): the synced-only state holds \(count) commits; the sealed segments held \(sealedCommits)")
            }
        }
        #expect(checked > 12, "most states open (\(checked) of 24)")
    }
}
