import ResultsSchema
import StoreCore

/// A latency objective: a percentile of every operation's latency, at most a bound (`p99<2ms`).
public struct LatencyObjective: Sendable, Equatable, CustomStringConvertible {
    public enum Percentile: String, Sendable, CaseIterable {
        case p50, p90, p99, p999 = "p99.9"
    }

    public var percentile: Percentile
    public var boundMicroseconds: Double

    /// Parses `p99<2ms`, `p99.9<500us`, `p50<0.2ms`, `p90<1s`.
    public init(parsing text: String) throws(StoreError) {
        let parts = text.split(separator: "<", maxSplits: 1).map(String.init)
        guard parts.count == 2, let percentile = Percentile(rawValue: parts[0]) else {
            throw .invalidArgument("`\(text)`: an objective looks like p99<2ms (p50, p90, p99 or p99.9; us, ms or s)")
        }
        var bound = parts[1]
        var scale = 1.0
        for (suffix, factor) in [("us", 1.0), ("µs", 1.0), ("ms", 1_000.0), ("s", 1_000_000.0)] where bound.hasSuffix(suffix) {
            bound.removeLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(bound), value > 0 else {
            throw .invalidArgument("`\(text)`: the bound must be a positive time such as 2ms")
        }
        self.percentile = percentile
        boundMicroseconds = value * scale
    }

    public var description: String { "\(percentile.rawValue)<\(boundMicroseconds)us" }

    /// The objective's percentile of a run's latency over every operation.
    public func latency(of run: Results.Run) -> Double? {
        guard let all = run.byOp["all"]?.latencyUs else { return nil }
        switch percentile {
        case .p50: return all.p50
        case .p90: return all.p90
        case .p99: return all.p99
        case .p999: return all.p999
        }
    }
}

/// The highest arrival rate an engine sustains within a latency objective (`run --find-max`):
/// open-loop runs paced at a rate — latency counted from when each operation was due, so a rate
/// the engine cannot keep up with shows as growing latency — searched by bisection between a
/// small share of the engine's unpaced throughput and that throughput. A rate passes when the
/// objective holds and the engine completed at least 95% of the offered rate.
public struct SLOSearch {
    public var objective: LatencyObjective
    /// Paced runs after the first one at the unpaced throughput.
    public var probes = 6

    public init(objective: LatencyObjective, probes: Int = 6) {
        self.objective = objective
        self.probes = probes
    }

    /// - Parameters:
    ///   - unpaced: the engine's closed-loop throughput (the upper end of the search).
    ///   - measure: runs the workload paced at a rate and returns the run.
    public func search(unpaced: Double, measure: (Double) throws -> Results.Run) rethrows -> Results.MaximumRate {
        var tried: [Results.MaximumRate.Probe] = []
        func probe(_ rate: Double) throws -> Bool {
            let run = try measure(rate)
            let latency = objective.latency(of: run)
            let passed = (latency ?? .infinity) <= objective.boundMicroseconds && run.opsPerS >= 0.95 * rate
            tried.append(.init(offeredOpsPerS: rate, achievedOpsPerS: run.opsPerS, latencyUs: latency, passed: passed))
            return passed
        }
        var low = 0.0
        var high = unpaced
        if try probe(unpaced) {
            low = unpaced
        } else {
            var rate = unpaced / 2
            for _ in 0..<probes {
                if try probe(rate) { low = rate } else { high = rate }
                rate = low > 0 ? (low + high) / 2 : high / 2
            }
        }
        return Results.MaximumRate(objective: objective.description, maxOpsPerS: low > 0 ? low : nil,
                                   probes: tried.sorted { $0.offeredOpsPerS < $1.offeredOpsPerS })
    }
}
