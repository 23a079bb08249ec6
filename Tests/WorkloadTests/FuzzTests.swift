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
            let lines = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
            do {
                let first = try Self.importAll(path, format)
                accepted += 1
                // Text formats give at most one operation per line; a trace's records each cost bytes.
                if format != .trace { #expect(first.count <= lines, "\(format): \(first.count) operations from \(lines) lines") }
                #expect(first.allSatisfy { $0.key.count <= StoreLimits.maxKeySize }, "\(format): a key over the limit was accepted")
                #expect(try Self.importAll(path, format) == first, "\(format): the same input imported twice gave different operations")
            } catch let error as WorkloadError {
                // Rejected with where and why: the file, and a line or offset inside the input.
                #expect(error.description.hasPrefix(path), "\(format): \(error)")
                switch error {
                case let .malformedLine(_, line, _): #expect(line >= 1 && line <= lines + 1, "\(format): line \(line) of \(lines): \(error)")
                case let .malformedTrace(_, offset, _): #expect(offset >= 0 && offset <= Int64(input.count), "\(format): \(error)")
                default: break
                }
            } catch let error as StoreError {
                #expect(error.description.contains(path), "\(format): \(error)")
            } catch {
                Issue.record("\(format): an error of an unexpected kind: \(error)")
            }
        }
        #expect(try Self.importAll(Self.write(base, to: path), format).count == (format == .trace ? 50 : 3), "\(format): the unmutated input")
        #expect(accepted > 0, "\(format): some mutated inputs are accepted")
        #expect(inputs > 100, "\(format): \(inputs) inputs tried")
    }
}

extension ImporterFuzzTests {
    /// One imported operation, comparable.
    struct Imported: Equatable {
        var kind: String
        var key: [UInt8]
        var valueSize: Int
    }

    static func importAll(_ path: String, _ format: InputFormat) throws -> [Imported] {
        var importer = try Importer(path: path, format: format)
        var operation = WorkloadOperation(.get)
        var all: [Imported] = []
        while try importer.next(into: &operation) {
            all.append(Imported(kind: "\(operation.kind)", key: operation.key, valueSize: operation.valueSize))
            if all.count >= 100_000 { Issue.record("\(format): no end in sight"); break }
        }
        return all
    }

    static func write(_ bytes: [UInt8], to path: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
