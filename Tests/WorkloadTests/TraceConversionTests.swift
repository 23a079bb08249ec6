import Foundation
import StoreCore
import StoreTestSupport
import Testing
import Workload

@Suite("Trace conversion")
struct TraceConversionTests {
    /// Four twitter-format operations: three in second 10, one in second 11.
    static let twitter = "10,a,1,100,7,get,0\n10,b,1,100,7,set,0\n10,c,1,100,7,get,0\n11,d,1,0,7,delete,0\n"

    func timestamps(_ path: String) throws -> (header: TraceHeader, times: [UInt64]) {
        var reader = try TraceReader(path: path)
        var operation = WorkloadOperation(.get)
        var times: [UInt64] = []
        while try reader.next(into: &operation) { times.append(operation.timestamp ?? 0) }
        return (reader.header, times)
    }

    @Test("whole-second timestamps are spread over their second unless bursts are kept")
    func bursts() throws {
        let scratch = try ScratchDirectory("convert")
        let input = scratch.child("in.csv")
        try Data(Self.twitter.utf8).write(to: URL(fileURLWithPath: input))
        let spread = try TraceConversion.convert(input, format: .twitter, to: scratch.child("spread.trace"), as: .trace, importing: ImportOptions(),
                                                 controls: ReplayControls(), keepBursts: false, seed: 1, scratch: scratch.path)
        #expect(spread.operations == 4 && spread.skipped == 0)
        let (header, times) = try timestamps(scratch.child("spread.trace"))
        #expect(header["timestamps"] == "whole seconds, spread evenly over each second")
        #expect(Set(times.prefix(3)).count == 3 && times == times.sorted(), "three distinct times within second 10: \(times)")
        #expect(times[0] >= 10_000_000 && times[2] < 11_000_000 && times[3] >= 11_000_000, "\(times)")

        _ = try TraceConversion.convert(input, format: .twitter, to: scratch.child("kept.trace"), as: .trace, importing: ImportOptions(),
                                        controls: ReplayControls(), keepBursts: true, seed: 1, scratch: scratch.path)
        let kept = try timestamps(scratch.child("kept.trace"))
        #expect(kept.header["timestamps"] == "whole seconds (bursts kept)" && Set(kept.times.prefix(3)).count == 1)
    }

    @Test("bad lines are skipped and counted when allowed; controls need a trace as output")
    func skipAndControls() throws {
        let scratch = try ScratchDirectory("convert-bad")
        let input = scratch.child("in.csv")
        try Data((Self.twitter + "not,a,line\n").utf8).write(to: URL(fileURLWithPath: input))
        #expect(throws: WorkloadError.self) {
            try TraceConversion.convert(input, format: .twitter, to: scratch.child("out.jsonl"), as: .jsonl, importing: ImportOptions(),
                                        controls: ReplayControls(), keepBursts: true, seed: 1, scratch: scratch.path)
        }
        let skipping = try TraceConversion.convert(input, format: .twitter, to: scratch.child("out.jsonl"), as: .jsonl,
                                                   importing: ImportOptions(skipBad: 5), controls: ReplayControls(), keepBursts: true,
                                                   seed: 1, scratch: scratch.path)
        #expect(skipping.operations == 4 && skipping.skipped == 1 && skipping.skippedExamples.first?.contains(":5") == true, "\(skipping.skippedExamples)")
        let lines = try String(contentsOfFile: scratch.child("out.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(throws: StoreError.self) {
            try TraceConversion.convert(input, format: .twitter, to: scratch.child("x.jsonl"), as: .jsonl, importing: ImportOptions(skipBad: 5),
                                        controls: ReplayControls(speed: 2), keepBursts: true, seed: 1, scratch: scratch.path)
        }
    }
}
