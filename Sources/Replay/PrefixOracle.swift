import StoreCore
import Workload

/// The durability-horizon oracle for one writer: a recovered store must hold exactly the state
/// after some prefix of the trace's write commits, and that prefix must include every commit
/// acknowledged before the horizon (the last completed sync; under `always`, every acknowledged
/// commit) and nothing past the one commit in flight. The prefix is found by matching: the
/// commits are applied one by one to a model while a running set holds the keys on which model
/// and store disagree; every prefix at which the set is empty is a candidate.
///
/// The store is read twice, through one full `scan` and through `get` of every key the trace
/// wrote or the scan returned; the two must agree.
struct PrefixOracle {
    let tracePath: String
    let synthesizer: ValueSynthesizer

    /// One write commit of the trace.
    struct Commit {
        var writes: [(operation: WorkloadOperation, position: Int)] = []
        /// Trace position just after its last record.
        var end = 0
    }

    func verify(_ store: any Store, acknowledged: Int, horizon: Int) throws -> CrashCheck.Verdict {
        // The trace's commits up to the one in flight (the first that ends past `acknowledged`).
        var reader = try TraceReader(path: tracePath)
        var operation = WorkloadOperation(.get)
        var commits: [Commit] = []
        var pending: Commit?
        var position = 0
        var inFlight = false
        while !inFlight, try reader.next(into: &operation) {
            defer { position += 1 }
            var finished: Commit?
            switch operation.kind {
            case .begin: pending = Commit()
            case .commit:
                if var batch = pending, !batch.writes.isEmpty {
                    batch.end = position + 1
                    finished = batch
                }
                pending = nil
            case .put, .delete, .readModifyWrite:
                if pending != nil {
                    pending!.writes.append((operation, position))
                } else {
                    finished = Commit(writes: [(operation, position)], end: position + 1)
                }
            case .get, .scan: break
            }
            if let finished {
                commits.append(finished)
                if finished.end > acknowledged { inFlight = true }
            }
        }
        let acknowledgedCount = inFlight ? commits.count - 1 : commits.count
        let horizonCount = commits.prefix(acknowledgedCount).reduce(0) { $0 + ($1.end <= horizon ? 1 : 0) }

        // The store, through scan and through get.
        var actual: [[UInt8]: [UInt8]] = [:]
        try store.scan(from: [], limit: Int.max) { key, value in actual[Array(key)] = Array(value) }
        var keys = Set(actual.keys)
        for commit in commits { for write in commit.writes { keys.insert(write.operation.key) } }
        var disagreements = 0
        var buffer: [UInt8] = []
        for key in keys {
            let found = try store.get(key, into: &buffer)
            if found ? actual[key] != buffer : actual[key] != nil { disagreements += 1 }
        }

        // Prefixes at which model and store agree.
        var model = StateModel()
        var expected: [UInt8] = []
        func matches(_ key: [UInt8]) -> Bool {
            let have = actual[key]
            guard let value = model.entries[key] else { return have == nil }
            guard let have else { return false }
            if case let .synthesized(size, _) = value, size != have.count { return false }
            StateModel.bytes(value, key: key, synthesizer: synthesizer, into: &expected)
            return expected == have
        }
        var mismatched = Set(actual.keys)
        var matching = [mismatched.isEmpty]
        var fewest = (count: mismatched.count, prefix: 0)
        for commit in commits {
            for (write, at) in commit.writes { model.apply(write, at: at) }
            for (write, _) in commit.writes {
                if matches(write.key) { mismatched.remove(write.key) } else { mismatched.insert(write.key) }
            }
            matching.append(mismatched.isEmpty)
            if mismatched.count <= fewest.count { fewest = (mismatched.count, matching.count - 1) }
        }

        var verdict = CrashCheck.Verdict(lostCommits: 0, partialBatch: false, frontier: ReplayFrontier(start: acknowledged))
        verdict.getScanDisagreements = disagreements
        let prefix: Int
        if let best = matching.indices.last(where: { matching[$0] && $0 >= horizonCount }) {
            prefix = best
        } else if let best = matching.indices.last(where: { matching[$0] }) {
            prefix = best
            verdict.lostCommits = horizonCount - best
        } else {
            // No prefix matches: something partial or invented. The closest prefix tells which.
            prefix = fewest.prefix
            verdict.wrongState = true
            verdict.lostCommits = max(0, horizonCount - prefix)
            // Partial: the keys that differ all belong to one batch next to that prefix.
            model = StateModel()
            for commit in commits.prefix(prefix) { for (write, at) in commit.writes { model.apply(write, at: at) } }
            let differing = Set(Set(actual.keys).union(model.entries.keys).filter { !matches($0) })
            verdict.detail = differing.prefix(3).map { key in
                let last = commits.prefix(prefix).lastIndex { $0.writes.contains { $0.operation.key == key } }
                let later = commits.indices.dropFirst(prefix).first { commits[$0].writes.contains { $0.operation.key == key } }
                return "key \(String(decoding: key, as: UTF8.self)): store \(actual[key].map { "\($0.count) bytes" } ?? "absent"), "
                    + "after \(prefix) commits \(model.entries[key] == nil ? "absent" : "present") (last written by commit \(last.map(String.init) ?? "none"), next by \(later.map(String.init) ?? "none"))"
            }.joined(separator: "; ")
            verdict.partialBatch = [prefix - 1, prefix].contains { index in
                commits.indices.contains(index) && commits[index].writes.count > 1
                    && differing.isSubset(of: Set(commits[index].writes.map(\.operation.key)))
            }
        }
        verdict.recoveredCommits = prefix
        verdict.unsyncedLost = max(0, acknowledgedCount - max(prefix, horizonCount))
        if inFlight {
            if prefix == commits.count { verdict.inFlightApplied = 1 } else if prefix == acknowledgedCount { verdict.inFlightNotApplied = 1 }
        }
        if prefix > acknowledgedCount {
            verdict.frontier = ReplayFrontier(start: commits[prefix - 1].end)
        } else if prefix < acknowledgedCount {
            verdict.frontier = ReplayFrontier(start: prefix == 0 ? 0 : commits[prefix - 1].end)
        }
        if disagreements > 0 { verdict.wrongState = true }
        return verdict
    }
}
