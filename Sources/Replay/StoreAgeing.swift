import ResultsSchema
import StoreCore
import Workload

/// `--age N`: before the run phase, every loaded record is written N times more, each round with
/// values of its own and in an order of its own (shuffled from the run's seed).
///
/// The order is what ages a store: a trace's load is often in key order (`insertorder=ordered`, a
/// bulk load, a restored backup), which leaves an LSM tree's levels over disjoint key ranges and a
/// log's segments free of dead records, so the first compactions of the run find little to merge
/// or reclaim. Rewriting the records in their load order would rebuild that same shape; rewriting
/// them in random order spreads every level across the whole key space and leaves dead records in
/// every segment, as a store that has served random updates for a while has.
struct StoreAgeing {
    let plan: RunPlan

    /// Runs the rounds against `store`; the phase's operations and time.
    func run(on store: any Store, progress: ((String) -> Void)?, engineName: String) throws -> Results.Phase {
        progress?("\(engineName): ageing the store, \(plan.ageRounds) rounds")
        let start = MonotonicClock.now()
        let records = try LoadRecords(plan: plan)
        var order = Array(0..<Int32(records.count))
        var random = SeededRandom(seed: plan.seed ^ 0x4167_6569_6E67)  // "Ageing": apart from the workload's draws
        var operations = 0
        for round in 1...plan.ageRounds {
            order.shuffle(using: &random)
            var ager = Replayer(store: store, synthesizer: plan.synthesizer)
            for index in order {
                // Versions past the trace's end: every round writes values of its own.
                let record = Int(index)
                let operation = records.operation(record)
                if case .completed = try ager.execute(operation, at: plan.totalRecords * round + record, start: 0, mark: 0) {
                    operations += 1
                }
            }
        }
        return Results.Phase(ops: operations, elapsedS: MonotonicClock.seconds(since: start))
    }
}

/// The load phase's records, kept compactly (keys side by side in one buffer) so the rounds can
/// visit them in any order without reading the trace again.
private struct LoadRecords {
    private var keys: [UInt8] = []
    private var keyEnds: [Int] = []
    private var kinds: [WorkloadOperation.Kind] = []
    private var valueSizes: [Int32] = []
    /// Values recorded in the trace (most traces have none: replay synthesizes them).
    private var values: [Int: [UInt8]] = [:]

    var count: Int { kinds.count }

    init(plan: RunPlan) throws {
        var reader = try TraceReader(path: plan.tracePath)
        var operation = WorkloadOperation(.get)
        while kinds.count < plan.loadRecords, try reader.next(into: &operation) {
            keys.append(contentsOf: operation.key)
            keyEnds.append(keys.count)
            kinds.append(operation.kind)
            valueSizes.append(Int32(clamping: operation.valueSize))
            if let value = operation.value { values[kinds.count - 1] = value }
        }
    }

    func operation(_ index: Int) -> WorkloadOperation {
        let start = index == 0 ? 0 : keyEnds[index - 1]
        return WorkloadOperation(kinds[index], key: Array(keys[start..<keyEnds[index]]),
                                 valueSize: Int(valueSizes[index]), value: values[index])
    }
}
