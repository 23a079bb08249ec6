import ResultsSchema
import StoreCore

/// The figures of several `dbbench` rounds (`--repeats N`): each round runs every engine once, in
/// the same order, so that a machine's drift reaches every engine alike. Ops/s are summarised as
/// median and range; an engine is compared with each of its peers (`EngineDescriptor.peers`)
/// round by round — the ratio of two figures taken minutes apart in one round is steadier than
/// the ratio of two medians.
public struct DBBenchRounds: Sendable {
    /// One engine's phase at one thread count.
    public struct Key: Hashable, Sendable, Comparable {
        public var engine: String
        public var threads: Int
        public var phase: String

        public static func < (a: Key, b: Key) -> Bool {
            (a.threads, a.engine, a.phase) < (b.threads, b.engine, b.phase)
        }
    }

    /// Median and range of a figure over the rounds.
    public struct Spread: Sendable, Equatable {
        public var median: Double
        public var minimum: Double
        public var maximum: Double
        public var count: Int

        public init(_ values: [Double]) {
            let sorted = values.sorted()
            count = sorted.count
            minimum = sorted.first ?? 0
            maximum = sorted.last ?? 0
            median = SampleStatistics.median(sorted)
        }
    }

    /// One of our engines beside one peer on one phase.
    public struct PeerRatio: Sendable {
        public var engine: String
        public var peer: String
        public var threads: Int
        public var phase: String
        /// Ours / peer's ops/s, per round.
        public var ratio: Spread
    }

    /// Each round's ops/s per engine, thread count and phase, in the order the phases ran.
    public private(set) var rounds: [[Key: Double]] = []
    /// Keys in first-seen order, for tables that follow the run's order.
    public private(set) var order: [Key] = []

    public init() {}

    /// Adds one round's outcomes. Phases that took a single operation (`reopen`, `compact`) have
    /// no rate and are left out.
    public mutating func add(round outcomes: [(engine: String, outcome: DBBench.Outcome)]) {
        var figures: [Key: Double] = [:]
        for (engine, outcome) in outcomes {
            for result in outcome.results where result.operations > 1 {
                let key = Key(engine: engine, threads: result.threads, phase: result.phase)
                if figures[key] == nil && !order.contains(key) { order.append(key) }
                figures[key] = result.opsPerSecond
            }
        }
        rounds.append(figures)
    }

    /// Median and range of ops/s over the rounds that measured `key`.
    public func spread(_ key: Key) -> Spread {
        Spread(rounds.compactMap { $0[key] })
    }

    /// For every engine whose peers ran too: its ops/s over each peer's, round by round.
    public func peerRatios(peers: [String: [String]]) -> [PeerRatio] {
        var ratios: [PeerRatio] = []
        for key in order {
            for peer in peers[key.engine] ?? [] {
                let peerKey = Key(engine: peer, threads: key.threads, phase: key.phase)
                let values = rounds.compactMap { round -> Double? in
                    guard let ours = round[key], let theirs = round[peerKey], theirs > 0 else { return nil }
                    return ours / theirs
                }
                guard !values.isEmpty else { continue }
                ratios.append(PeerRatio(engine: key.engine, peer: peer, threads: key.threads, phase: key.phase, ratio: Spread(values)))
            }
        }
        return ratios
    }
}
