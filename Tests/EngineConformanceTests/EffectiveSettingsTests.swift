import Engines
import StoreCore
import StoreTestSupport
import Testing

@Suite("Effective settings")
struct EffectiveSettingsTests {
    func effective(_ name: String, _ settings: [String: String] = [:]) throws -> [String: String] {
        let scratch = try ScratchDirectory("settings-\(name)")
        defer { scratch.remove() }
        var options = StoreOptions()
        options.settings = settings
        let store = try EngineRegistry.engine(named: name).open(scratch.child("store"), options)
        defer { try? store.close() }
        return store.effectiveSettings
    }

    @Test("lsm reports every setting it runs with, its defaults and what --set changed")
    func lsmReports() throws {
        let defaults = try effective("lsm")
        #expect(defaults["write_buffer_size"] == String(4 << 20))
        #expect(defaults.count == 11, "\(defaults.keys.sorted())")
        #expect(try effective("lsm", ["lsm.write_buffer_size": "1MiB"])["write_buffer_size"] == String(1 << 20))
        #expect(defaults["recycle_wal"] == "2", "on under durability always, the default")
    }

    /// Reference LSMs run with lsm's sizes by default, so write amplification and stalls compare
    /// like for like: every size a reference library takes equals lsm's.
    @Test("reference LSM libraries default to lsm's sizes", arguments: ["leveldb", "rocksdb"])
    func referencesMatchLSM(reference: String) throws {
        guard EngineRegistry.names.contains(reference) else { return }
        let ours = try effective("lsm")
        let theirs = try effective(reference)
        #expect(!theirs.isEmpty)
        for (name, value) in theirs {
            #expect(ours[name] == value, "\(reference) \(name)=\(value), lsm \(ours[name] ?? "none")")
        }
    }
}
