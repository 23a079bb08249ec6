import Foundation
import StoreCore

extension StressTest {
    /// What a time-budgeted stress run did.
    public struct Summary {
        public var rounds = 0
        public var steps = 0
        public var reopens = 0
        public var crashes = 0
        /// The first mismatch: its round's seed, the shrunk sequence and its mismatch.
        public var failure: (seed: UInt64, steps: [StressStep], mismatch: Mismatch)?
    }

    /// Random rounds of `steps` steps (round k with seed `seed + k`, each on a fresh store) until
    /// `seconds` have passed or a round disagrees with the model; a failing round is shrunk.
    public func run(seconds: Double, seed: UInt64, steps count: Int) throws -> Summary {
        let start = MonotonicClock.now()
        var summary = Summary()
        while MonotonicClock.seconds(since: start) < seconds {
            let roundSeed = seed &+ UInt64(summary.rounds)
            let sequence = Self.steps(seed: roundSeed, count: count, persistent: engine.isPersistent, maxKeySize: engine.maxKeySize)
            summary.rounds += 1
            summary.steps += sequence.count
            summary.reopens += sequence.filter { $0 == .reopen }.count
            summary.crashes += sequence.filter { $0 == .crash }.count
            guard try run(sequence) != nil else { continue }
            let (shrunk, mismatch) = try shrink(sequence) ?? (sequence, Mismatch(step: 0, reason: "did not fail again"))
            summary.failure = (roundSeed, shrunk, mismatch)
            break
        }
        return summary
    }
}
