import Foundation
import StoreCore
import StoreTestSupport
import Testing
import Workload

/// Every importer fed random and mutated input for a bounded time: each input ends in operations
/// or in an error — never a crash or a hang.
@Suite("Importer fuzzing")
struct ImporterFuzzTests {
    static let seeds: [InputFormat: String] = [
        .twitter: "1,key-1,16,100,7,get,0\n2,key-2,16,100,7,set,0\n3,key-3,16,0,7,delete,0\n",
        .cachelib: "op_time,key,key_size,op,op_count,size\n1,abc,3,GET,1,100\n2,abd,3,SET,1,200\n3,abe,3,DELETE,1,0\n",
        .rocksdb: "0x6B6579 0 1 1000 100\n0x6B6579 1 1 1001 100\n0x6B6578 2 1 1002 0\n",
        .jsonl: "{\"op\":\"put\",\"key\":\"a\",\"value_size\":10}\n{\"op\":\"get\",\"key\":\"a\"}\n{\"op\":\"delete\",\"key\":\"a\"}\n",
    ]

    @Test("random and mutated inputs: operations or an error, never a crash", arguments: [InputFormat.twitter, .cachelib, .rocksdb, .jsonl, .trace])
    func fuzz(format: InputFormat) throws {
        let scratch = try ScratchDirectory("fuzz-\(format.rawValue)")
        let path = scratch.child("input")
        var random = SeededRandom(seed: UInt64(format.rawValue.count) &* 7919)
        var base: [UInt8]
        if format == .trace {
            let tracePath = scratch.child("seed.trace")
            let writer = try TraceWriter(path: tracePath, header: TraceHeader([("source", "fuzz")]))
            for index in 0..<50 { try writer.append(WorkloadOperation(index % 3 == 0 ? .get : .put, key: bytes("key\(index)"), valueSize: index)) }
            try writer.finish()
            base = Array(try Data(contentsOf: URL(fileURLWithPath: tracePath)))
        } else {
            base = Array(Self.seeds[format]!.utf8)
        }
        let started = MonotonicClock.now()
        var inputs = 0
        var accepted = 0
        while MonotonicClock.seconds(since: started) < 1.5 {
            var input = base
            switch random.below(4) {
            case 0: input = random.bytes(random.below(300))
            case 1:
                for _ in 0..<(1 + random.below(6)) where !input.isEmpty { input[random.below(input.count)] = UInt8(random.below(256)) }
            case 2: input = Array(input.prefix(random.below(input.count + 1)))
            default:
                let at = random.below(input.count + 1)
                input.insert(contentsOf: random.bytes(random.below(20)), at: at)
            }
            try Data(input).write(to: URL(fileURLWithPath: path))
            inputs += 1
            do {
                var importer = try Importer(path: path, format: format)
                var operation = WorkloadOperation(.get)
                var count = 0
                while try importer.next(into: &operation) {
                    count += 1
                    #expect(count < 100_000, "\(format): no end in sight")
                    if count >= 100_000 { break }
                }
                accepted += 1
            } catch is StoreError {
                // Rejected with a reason: fine.
            } catch {
                // Any other thrown error is fine too; a crash would end the test run.
            }
        }
        #expect(inputs > 100, "\(format): \(inputs) inputs tried")
    }
}
