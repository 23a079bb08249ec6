import StoreCore

/// How fast a workload is replayed.
public enum Pace: Sendable, Equatable, CustomStringConvertible {
    /// As fast as the store allows: each operation starts when the previous one returns.
    case max
    /// At the trace's own timestamps, sped up by `speedup` (operations without one start at once).
    case recorded(speedup: Double)
    /// At a fixed rate of operations per second.
    case rate(Double)

    /// Parses `max`, `recorded`, `recorded:10`, `rate:50000`.
    public init(parsing text: String) throws(StoreError) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        switch parts[0] {
        case "max" where parts.count == 1:
            self = .max
        case "recorded":
            let speedup = parts.count > 1 ? Double(parts[1]) : 1
            guard let speedup, speedup > 0 else { throw .invalidArgument("`\(text)`: the speed-up must be a positive number") }
            self = .recorded(speedup: speedup)
        case "rate":
            guard parts.count > 1, let rate = Double(parts[1]), rate > 0 else {
                throw .invalidArgument("`\(text)`: give a rate in operations per second, e.g. rate:50000")
            }
            self = .rate(rate)
        default:
            throw .invalidArgument("unknown pace `\(text)` (max, recorded[:SPEEDUP], rate:OPS)")
        }
    }

    public var description: String {
        switch self {
        case .max: "max"
        case let .recorded(speedup): speedup == 1 ? "recorded" : "recorded:\(speedup)"
        case let .rate(rate): "rate:\(Int(rate))"
        }
    }

    /// With a pace, latency counts from when an operation was due, not from when the previous one
    /// let it start: waiting behind a stall is part of what a user sees (no coordinated omission).
    public var isPaced: Bool { self != .max }
}
