import AppendLog
import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

/// The `log` variants (`format=jsonl`, `deletes=tombstone-file`) by their settings.
let logVariants: [[String: String]] = [["format": "jsonl"], ["deletes": "tombstone-file"]]

/// `name=value` of a variant, for messages.
func variantName(_ settings: [String: String]) -> String {
    settings.map { "\($0)=\($1)" }.sorted().joined(separator: ",")
}

@Suite("log: variants, shared behaviour")
struct VariantTests {
    @Test("round trip: puts, overwrites, deletes, batches, large and empty values, scans", arguments: logVariants)
    func roundTrip(variant: [String: String]) throws {
        let scratch = try ScratchDirectory("log-variant-roundtrip")
        defer { scratch.remove() }
        let store = try openLog(scratch.child("store"), variant)
        let oracle = MemoryStore()
        var random = SeededRandom(seed: 7)
        for step in 0..<3000 {
            let k = key(random.below(300))
            switch random.below(10) {
            case 0..<5:
                // Lengths 0...5000 cover every base64 padding case and the stack/heap read paths.
                var value = [UInt8](repeating: 0, count: random.below(5001))
                value.withUnsafeMutableBytes { random.fill($0) }
                try store.put(k, value)
                try oracle.put(k, value)
            case 5..<7:
                try store.delete(k)
                try oracle.delete(k)
            case 7:
                var batch = WriteBatch()
                for _ in 0..<random.below(6) {
                    let bk = key(random.below(300))
                    if random.below(3) == 0 { batch.delete(bk) } else { batch.put(bk, Array(repeating: UInt8(step & 0xFF), count: random.below(40))) }
                }
                try store.apply(batch)
                try oracle.apply(batch)
            default:
                #expect(try store.get(k) == oracle.get(k), "\(variantName(variant)) step \(step)")
            }
        }
        // Binary keys: every byte value, and a key whose base64 is padded twice.
        let odd: [[UInt8]] = [Array(0...255), [0], [0xFF, 0xFE], Array(repeating: 0x22, count: 65_536)]
        for (index, k) in odd.enumerated() {
            try store.put(k, [UInt8(index), 0x0A, 0x22, 0x5C])
            try oracle.put(k, [UInt8(index), 0x0A, 0x22, 0x5C])
        }
        #expect(try contents(store) == contents(oracle))
        var scanned: [[UInt8]] = []
        try store.scan(from: key(100), limit: 5) { k, _ in scanned.append(Array(k)) }
        var expected: [[UInt8]] = []
        try oracle.scan(from: key(100), limit: 5) { k, _ in expected.append(Array(k)) }
        #expect(scanned == expected)
        try store.close()
    }

    @Test("persistence: reopen from hints, from records, and after compaction", arguments: logVariants)
    func persistence(variant: [String: String]) throws {
        let scratch = try ScratchDirectory("log-variant-persist")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let settings = variant.merging(["segment_size": "8KiB", "compaction_policy": "manual"]) { $1 }
        var store = try openLog(path, settings)
        let oracle = MemoryStore()
        for index in 0..<400 {
            try store.put(key(index % 150), Array(repeating: UInt8(index & 0xFF), count: 20 + index % 50))
            try oracle.put(key(index % 150), Array(repeating: UInt8(index & 0xFF), count: 20 + index % 50))
            if index % 7 == 0 {
                try store.delete(key(index % 40))
                try oracle.delete(key(index % 40))
            }
        }
        try store.close()
        for useHints in ["true", "false"] {
            store = try openLog(path, settings.merging(["use_hints": useHints]) { $1 })
            #expect(try contents(store) == contents(oracle), "\(variantName(variant)) use_hints=\(useHints)")
            try store.close()
        }
        store = try openLog(path, settings)
        try store.compact()
        #expect(try contents(store) == contents(oracle))
        try store.close()
        store = try openLog(path, settings)
        #expect(try contents(store) == contents(oracle), "after compaction and reopen")
        try store.close()
    }

    @Test("a key deleted and put again lives, across reopen and across compaction", arguments: logVariants)
    func resurrection(variant: [String: String]) throws {
        let scratch = try ScratchDirectory("log-variant-resurrect")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let settings = variant.merging(["compaction_policy": "manual"]) { $1 }
        var store = try openLog(path, settings)
        try store.put(key(1), [1])
        try store.put(key(2), [2])
        try store.delete(key(1))
        try store.put(key(1), [11])  // resurrected in the same segment
        try store.delete(key(2))
        try store.close()
        store = try openLog(path, settings)
        #expect(try store.get(key(1)) == [11])
        #expect(try store.get(key(2)) == nil)
        try store.put(key(2), [22])  // resurrected in a later segment than its tombstone's commit
        var batch = WriteBatch()
        batch.delete(key(3))
        batch.put(key(3), [33])  // later in the batch: it wins
        batch.put(key(4), [44])
        batch.delete(key(4))  // later in the batch: it wins
        try store.apply(batch)
        try store.close()
        for step in ["reopen", "compact", "reopen after compaction", "delete and put after compaction"] {
            store = try openLog(path, settings)
            switch step {
            case "compact": try store.compact()
            case "delete and put after compaction":
                try store.delete(key(1))
                try store.put(key(1), [111])
                try store.close()
                store = try openLog(path, settings)
                #expect(try store.get(key(1)) == [111])
            default: break
            }
            if step != "delete and put after compaction" { #expect(try store.get(key(1)) == [11], "\(step)") }
            #expect(try store.get(key(2)) == [22], "\(step)")
            #expect(try store.get(key(3)) == [33], "\(step)")
            #expect(try store.get(key(4)) == nil, "\(step)")
            try store.close()
        }
    }

    @Test("a store opens only as the variant it was created with; without the setting it uses the recorded one", arguments: logVariants)
    func mismatchedVariant(variant: [String: String]) throws {
        let scratch = try ScratchDirectory("log-variant-mismatch")
        defer { scratch.remove() }
        let path = scratch.child("store")
        var store = try openLog(path, variant)
        try store.put(key(1), [1])
        try store.close()
        let (name, value) = variant.first!
        let other = name == "format" ? "binary" : "inline"
        let error = #expect(throws: StoreError.self) { try openLog(path, [name: other]) }
        let message = error.map { String(describing: $0) } ?? ""
        #expect(message.contains("store was created with \(name)=\(value); opened with \(name)=\(other)"), "\(message)")
        store = try openLog(path)
        #expect(store.effectiveSettings[name] == value)
        #expect(try store.get(key(1)) == [1])
        try store.close()
        // And the other way round: a store created as the default refuses the variant.
        let plain = scratch.child("plain")
        store = try openLog(plain)
        try store.put(key(1), [1])
        try store.close()
        let refused = #expect(throws: StoreError.self) { try openLog(plain, variant) }
        let refusal = refused.map { String(describing: $0) } ?? ""
        #expect(refusal.contains("store was created with \(name)=\(other); opened with \(name)=\(value)"), "\(refusal)")
    }

    @Test("unknown variant values and compaction modes that do not apply are usage errors listing the allowed ones")
    func usageErrors() throws {
        let scratch = try ScratchDirectory("log-variant-usage")
        defer { scratch.remove() }
        let cases: [([String: String], [String])] = [
            (["format": "xml"], ["binary", "jsonl"]),
            (["deletes": "later"], ["inline", "tombstone-file"]),
            (["deletes": "tombstone-file", "compaction_mode": "incremental"], ["allowed: vacuum"]),
            (["deletes": "tombstone-file", "compaction_mode": "full"], ["allowed: vacuum"]),
            (["compaction_mode": "vacuum"], ["allowed: full, incremental"]),
        ]
        for (index, (settings, mentions)) in cases.enumerated() {
            let error = #expect(throws: StoreError.self) { try openLog(scratch.child("s\(index)"), settings) }
            guard case let .invalidArgument(message)? = error else {
                Issue.record("\(settings): expected a usage error, got \(String(describing: error))")
                continue
            }
            for mention in mentions { #expect(message.contains(mention), "\(message)") }
        }
        let store = try openLog(scratch.child("vacuum"), ["deletes": "tombstone-file", "compaction_mode": "vacuum"])
        #expect(store.effectiveSettings["compaction_mode"] == "vacuum")
        #expect(store.effectiveSettings["deletes"] == "tombstone-file")
        #expect(store.effectiveSettings["format"] == "binary")
        #expect(throws: StoreError.self) { try store.mergeNow() }
        try store.close()
    }

    @Test("the concurrency suite", arguments: logVariants, ConcurrencySuite.Case.allCases)
    func concurrency(variant: [String: String], testCase: ConcurrencySuite.Case) throws {
        let engine = AppendLogStore.descriptor
        let suite = ConcurrencySuite(engine: engine, options: StoreOptions(durability: .none, settings: engine.stressSettings.merging(variant) { $1 }))
        let outcome = try suite.run(testCase)
        if case let .notApplicable(reason) = outcome { Issue.record("\(testCase) skipped: \(reason)") }
    }

    /// The bounds are the binary ones (ChurnTests) scaled by what a record costs: a `jsonl` line
    /// holds a 112-byte entry in about 190 bytes (base64 and field names), a binary record in 125;
    /// a tombstone in the tombstone file takes 25 bytes besides its key, as a delete record does.
    @Test("churn: disk stays within a stated factor of the live data once compacted", arguments: [
        (["format": "jsonl"], 3.75), (["format": "jsonl", "compaction_mode": "incremental", "segment_size": "256KiB"], 6.75),
        (["deletes": "tombstone-file"], 3.0), (["deletes": "tombstone-file", "segment_size": "256KiB"], 3.0),
    ])
    func churn(variant: [String: String], bound: Double) throws {
        let outcome = try runChurn(variant)
        let amplification = Double(outcome.settledDiskBytes) / Double(outcome.liveLogicalBytes)
        #expect(amplification <= bound, "\(variantName(variant)): disk \(outcome.settledDiskBytes) B for \(outcome.liveLogicalBytes) B live: \(amplification)×")
        #expect(outcome.events.contains { $0.kind == "compaction" || $0.kind == "merge" }, "compaction ran")
        guard variant["compaction_mode"] != "incremental" else { return }
        // Stop-the-world compaction (and vacuum) hold the bound all along, give or take the
        // `compaction_min_dead` megabyte before the first one.
        let peak = outcome.diskSamples.max() ?? 0
        #expect(Double(peak) <= bound * Double(outcome.liveLogicalBytes) + Double(1 << 20), "peak \(peak) B")
    }
}
