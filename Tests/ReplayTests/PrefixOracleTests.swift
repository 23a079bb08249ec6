import MemoryStore
import StoreCore
import StoreTestSupport
import Testing
@testable import Replay
import Workload

@Suite("Durability-horizon oracle")
struct PrefixOracleTests {
    /// Five commits: put a, put b, batch {put c, put a}, put d, delete b (ends at 1, 2, 6, 7, 8).
    static let operations: [WorkloadOperation] = [
        WorkloadOperation(.put, key: [0x61], value: [1]),
        WorkloadOperation(.put, key: [0x62], value: [2]),
        WorkloadOperation(.begin),
        WorkloadOperation(.put, key: [0x63], value: [3]),
        WorkloadOperation(.put, key: [0x61], value: [4]),
        WorkloadOperation(.commit),
        WorkloadOperation(.put, key: [0x64], value: [5]),
        WorkloadOperation(.delete, key: [0x62]),
    ]

    func check() throws -> (CrashCheck, ScratchDirectory) {
        let scratch = try ScratchDirectory("prefix-oracle")
        let writer = try TraceWriter(path: scratch.child("trace"), header: TraceHeader([("source", "test")]))
        for operation in Self.operations { try writer.append(operation) }
        _ = try writer.finish()
        return (CrashCheck(executable: "", childArguments: [], tracePath: scratch.child("trace"), synthesizer: ValueSynthesizer(seed: 1)), scratch)
    }

    /// A store holding the first `commits` commits (and, with `extra`, more writes).
    func store(commits: Int, extra: [(UInt8, [UInt8]?)] = []) throws -> MemoryStore {
        let store = MemoryStore()
        let states: [[(UInt8, [UInt8]?)]] = [[(0x61, [1])], [(0x62, [2])], [(0x63, [3]), (0x61, [4])], [(0x64, [5])], [(0x62, nil)]]
        for writes in states.prefix(commits) + [extra] {
            for (key, value) in writes { if let value { try store.put([key], value) } else { try store.delete([key]) } }
        }
        return store
    }

    @Test("under always every acknowledged commit must be there; losses are counted in commits")
    func always() throws {
        let (check, scratch) = try check()
        defer { withExtendedLifetime(scratch) {} }
        let whole = try check.verify(try store(commits: 5), acknowledged: ReplayFrontier(start: 8))
        #expect(whole.passed && whole.recoveredCommits == 5)
        let short = try check.verify(try store(commits: 3), acknowledged: ReplayFrontier(start: 8))
        #expect(!short.passed && short.lostCommits == 2 && !short.wrongState, "\(short)")
    }

    @Test("under interval a prefix past the horizon passes; one before it loses the commits in between")
    func horizon() throws {
        let (check, scratch) = try check()
        defer { withExtendedLifetime(scratch) {} }
        let past = try check.verify(try store(commits: 3), acknowledged: ReplayFrontier(start: 8), horizon: ReplayFrontier(start: 6))
        #expect(past.passed && past.unsyncedLost == 2 && past.lostCommits == 0, "\(past)")
        #expect(past.frontier == ReplayFrontier(start: 6), "continues after the last commit recovered")
        let before = try check.verify(try store(commits: 1), acknowledged: ReplayFrontier(start: 8), horizon: ReplayFrontier(start: 6))
        #expect(!before.passed && before.lostCommits == 2, "\(before)")
    }

    @Test("the commit in flight may be there whole; a half batch or an invented value matches no prefix")
    func inFlightAndWrong() throws {
        let (check, scratch) = try check()
        defer { withExtendedLifetime(scratch) {} }
        let applied = try check.verify(try store(commits: 4), acknowledged: ReplayFrontier(start: 6))
        #expect(applied.passed && applied.inFlightApplied == 1 && applied.frontier == ReplayFrontier(start: 7), "\(applied)")
        let beyond = try check.verify(try store(commits: 5), acknowledged: ReplayFrontier(start: 6))
        #expect(!beyond.passed && beyond.wrongState, "two commits past the acknowledged one: \(beyond)")
        let half = try check.verify(try store(commits: 2, extra: [(0x63, [3])]), acknowledged: ReplayFrontier(start: 8), horizon: ReplayFrontier(start: 0))
        #expect(!half.passed && half.wrongState && half.partialBatch, "\(half)")
        let invented = try check.verify(try store(commits: 5, extra: [(0x7A, [9])]), acknowledged: ReplayFrontier(start: 8))
        #expect(!invented.passed && invented.wrongState, "\(invented)")
    }
}
