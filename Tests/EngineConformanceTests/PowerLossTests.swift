import Engines
import FaultInjection
import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

@Suite("Simulated power loss")
struct PowerLossTests {
    /// Each trial runs the fault workload with durability `always` and cuts the power just before
    /// a random mutating system call — in a commit, a flush, a compaction or a merge alike. Only
    /// what was fsynced survives (file bytes and directory entries); the store must open with
    /// every acknowledged commit, plus at most the one in flight, whole.
    @Test("only synced bytes and entries survive, and they hold every acknowledged commit", arguments: layeredEngines)
    func powerLoss(engine name: String) throws {
        let engine = try EngineRegistry.engine(named: name)
        let settings = FaultWorkload.settings(name)
        var random = SeededRandom(seed: 0x90E5)
        var cuts = 0
        for trial in 0..<16 {
            let scratch = try ScratchDirectory("power-\(name)")
            let path = scratch.child("store")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let power = try PowerLossFileSystem(directory: path)
            let acknowledged = MemoryStore()
            var inFlight: WriteBatch?
            var workload = FaultWorkload(random: SeededRandom(seed: UInt64(1000 + trial)))
            let cutAt = 1 + random.below(trial < 4 ? 40 : 1500)
            power.arm(powerLossAt: cutAt)
            var store: (any Store)?
            do {
                store = try engine.open(path, StoreOptions(durability: .always, fileSystem: power, settings: settings))
                for _ in 0..<600 {
                    let batch = workload.next()
                    inFlight = batch
                    try store!.apply(batch)
                    try acknowledged.apply(batch)
                    inFlight = nil
                }
            } catch let error as StoreError {
                guard case .io = error else { throw error }
            }
            if !power.isDead { try power.powerLoss() } else { cuts += 1 }
            store = nil  // whatever it still tries to write fails: the power is off
            let reopened: any Store
            do {
                reopened = try engine.open(path, StoreOptions(durability: .always, settings: settings))
            } catch {
                Issue.record("\(name) trial \(trial), power cut at mutating call \(cutAt): reopen failed: \(error)")
                continue
            }
            let got = try contents(reopened)
            let want = try contents(acknowledged)
            if got != want, let inFlight {
                let withBatch = MemoryStore()
                try withBatch.apply(WriteBatch(try acknowledged.scan(from: [], limit: .max).map { .put(key: $0.key, value: $0.value) }))
                try withBatch.apply(inFlight)
                let other = try contents(withBatch)
                let differing = Set(got.keys).union(want.keys).filter { got[$0] != want[$0] && got[$0] != other[$0] }
                #expect(got == other, "\(name) trial \(trial), power cut at mutating call \(cutAt): neither the acknowledged state nor it plus the commit in flight; \(differing.count) keys differ, e.g. \(differing.prefix(3).map { String(decoding: $0, as: UTF8.self) }): got \(differing.prefix(3).map { got[$0]?.count ?? -1 }), acknowledged \(differing.prefix(3).map { want[$0]?.count ?? -1 })")
            } else {
                #expect(got == want, "\(name) trial \(trial): acknowledged commits lost (\(got.count) keys, expected \(want.count))")
            }
            // The recovered store keeps working.
            try reopened.put(bytes("after power loss"), bytes("ok"))
            #expect(try reopened.get(bytes("after power loss")) == bytes("ok"))
            try reopened.close()
        }
        #expect(cuts >= 8, "most trials cut the power inside the workload (\(cuts) of 16)")
    }
}
