import Engines
import StoreCore
import StoreTestSupport
import Testing

@Suite("Engine variants")
struct EngineVariantTests {
    @Test("a variant is the engine under its own name, opened with its settings")
    func variantOpensWithSettings() throws {
        let variant = try EngineRegistry.engine(named: "lsm[write_buffer_size=1MiB]")
        #expect(variant.name == "lsm[write_buffer_size=1MiB]")
        #expect(variant.peers == ["leveldb", "rocksdb"])
        let scratch = try ScratchDirectory("variant")
        defer { scratch.remove() }
        // The variant's setting wins over a --set of the same name: the name says what ran.
        let store = try variant.open(scratch.child("store"), StoreOptions(settings: ["write_buffer_size": "2MiB", "lsm.write_buffer_size": "2MiB"]))
        defer { try? store.close() }
        #expect(store.effectiveSettings["write_buffer_size"] == String(1 << 20))
    }

    @Test("lists split at commas outside brackets, keep variants apart and drop repeats")
    func lists() throws {
        let names = try EngineRegistry.engines(matching: "lsm, lsm[write_buffer_size=1MiB,block_size=8KiB],memory,lsm").map(\.name)
        #expect(names == ["lsm", "lsm[write_buffer_size=1MiB,block_size=8KiB]", "memory"])
    }

    @Test("malformed or unknown variants are usage errors naming what is wrong", arguments: [
        ("lsm[", "closing"), ("lsm[write_buffer_size]", "NAME=VALUE"), ("lsm[]", "ENGINE[NAME=VALUE"),
        ("lsm[a=1,a=2]", "twice"), ("nosuch[a=1]", "unknown engine `nosuch`"), ("lsm[a=1]x", "closing"),
    ])
    func malformed(name: String, message: String) {
        #expect {
            _ = try EngineRegistry.engine(named: name)
        } throws: { error in
            guard case let .invalidArgument(text) = error as? StoreError else { return false }
            return text.contains(message)
        }
    }

    @Test("a setting the engine does not know fails at open, listing what it accepts")
    func unknownSetting() throws {
        let scratch = try ScratchDirectory("variant-unknown")
        defer { scratch.remove() }
        let variant = try EngineRegistry.engine(named: "lsm[colour=blue]")
        #expect {
            _ = try variant.open(scratch.child("store"), StoreOptions())
        } throws: { error in
            guard case let .invalidArgument(text) = error as? StoreError else { return false }
            return text.contains("colour") && text.contains("write_buffer_size")
        }
    }
}
