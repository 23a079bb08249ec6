import LSMTree
import StoreCore
import StoreTestSupport
import Testing
@testable import Replay
import Workload

@Suite("Crash campaign")
struct CrashCampaignTests {
    @Test("an engine runs with its stress settings unless the settings given name one of its own")
    func stressSettings() {
        let engine = LSMStore.descriptor
        #expect(!engine.stressSettings.isEmpty)
        let merged = CrashCampaign.settings(for: engine, given: ["segment_size": "1MiB"])
        #expect(merged["segment_size"] == "1MiB")
        for (name, value) in engine.stressSettings { #expect(merged["lsm." + name] == value) }
        let own = ["lsm.write_buffer_size": "1MiB"]
        #expect(CrashCampaign.settings(for: engine, given: own) == own, "a setting of the engine's own replaces all its stress settings")
    }

    @Test("fault cycles run per engine and fault, and no kill cycle without kills")
    func faultsOnly() throws {
        let scratch = try ScratchDirectory("crash-campaign")
        let materialized = try WorkloadMaterializer.materialize("crash", seed: 3, overrides: ["operationcount": "4000"], scratch: scratch.path)
        let total = try #require(try TraceReader.recordCount(path: materialized.path))
        var events: [String] = []
        var campaign = CrashCampaign(
            engines: [LSMStore.descriptor], options: StoreOptions(durability: .always), kills: false, faults: [.eio, .powerLoss],
            configuration: CrashCycles.Configuration(iterations: 2, seed: 3, statesPerCut: 2),
            tracePath: materialized.path, totalRecords: total, synthesizer: ValueSynthesizer(seed: 3), valueSeed: 3,
            layout: .threads(1), executable: "/nonexistent", scratch: scratch.path)
        campaign.finishedCycles = { events.append("finished") }
        let (kills, faults) = try campaign.run()
        #expect(kills.isEmpty, "no child was started: the executable does not exist")
        #expect(faults.map(\.fault) == [.eio, .powerLoss] && faults.allSatisfy { $0.engine == "lsm" && $0.passed }, "\(faults)")
        #expect(faults.allSatisfy { $0.recovered > 0 })
        #expect(events == ["finished"])
    }
}
