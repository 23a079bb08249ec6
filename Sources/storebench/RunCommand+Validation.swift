import ArgumentParser
import Foundation
import Replay
import StoreCore
import Workload

extension RunCommand {
    /// Every option checked before anything runs: a bad value is a usage error (exit 64).
    func validate() throws {
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1") }
        if let percentiles, PercentileList.parse(percentiles) == nil {
            throw ValidationError("--percentiles expects numbers above 0 and at most 100, comma-separated (e.g. 50,99,99.99), got `\(percentiles)`")
        }
        guard killPoints >= 0 else { throw ValidationError("--kill-points must not be negative") }
        guard interval > 0 else { throw ValidationError("--interval must be positive") }
        guard (0...1).contains(compressibility) else { throw ValidationError("--compressibility must be between 0 and 1") }
        if let degrade, Degradation(parsing: degrade) == nil {
            throw ValidationError("--degrade takes double-writes, extra-fsync, slow-writes:MICROSECONDS or early-ack")
        }
        if let records, records <= 0 { throw ValidationError("--records must be positive") }
        if findMax { _ = try LatencyObjective(parsing: slo) }
        if let warmup, WarmUp(parsing: warmup) == nil { throw ValidationError("--warmup takes seconds (30s) or an operation count (100000)") }
        guard (0...1000).contains(age) else { throw ValidationError("--age must be between 0 and 1000") }
        if readers != nil || writers != nil {
            guard let readers, let writers else { throw ValidationError("--readers and --writers go together") }
            guard readers >= 1, writers >= 1, readers + writers <= ThreadCounts.maximum else {
                throw ValidationError("--readers and --writers must each be at least 1, and together at most \(ThreadCounts.maximum)")
            }
            guard threads == ThreadCounts([1]) else { throw ValidationError("--threads and --readers/--writers exclude each other") }
        }
        if let ops, ops < 0 { throw ValidationError("--ops must not be negative") }
        _ = try Pace(parsing: pace)
        if controls.speed != nil && !pace.hasPrefix("recorded") { throw ValidationError("--speed scales recorded time: replay with --pace recorded") }
    }
}
