import Replay
import Report
import StoreCore

/// The tables `dbbench` prints.
enum DBBenchTables {
    static func phaseTable(_ outcomes: [(engine: String, outcome: DBBench.Outcome)]) -> TextTable {
        var table = TextTable(headers: ["engine", "threads", "benchmark", "ops", "ops/s", "µs/op", "found", "syncs/commit", "bytes/key", "note"])
        for (engine, outcome) in outcomes {
            for result in outcome.results {
                table.append([
                    engine, String(result.threads), result.phase, NumberFormat.grouped(Double(result.operations)),
                    result.operations > 1 ? NumberFormat.grouped(result.opsPerSecond) : "-",
                    result.operations > 1 ? NumberFormat.fixed(result.microsecondsPerOp, places: 3) : NumberFormat.fixed(result.seconds * 1000, places: 1) + " ms",
                    result.found.map { NumberFormat.grouped(Double($0)) } ?? "",
                    result.commits == nil ? "" : result.syncsPerCommit.map { NumberFormat.fixed($0, places: 3) } ?? "–",
                    result.bytesPerKey.map { NumberFormat.fixed($0, places: 1) } ?? "",
                    result.note ?? "",
                ])
            }
        }
        return table
    }

    /// Under durability `always`: each phase's commits/s beside the rate at which the device
    /// overwrites a 4 KiB block and fdatasyncs it (measured in the same run) — the ceiling for
    /// one writer whose every commit needs a sync; group commit can pass it.
    static func deviceTable(_ outcomes: [(engine: String, outcome: DBBench.Outcome)], overwriteRate: Double) -> TextTable {
        var table = TextTable(headers: ["engine", "threads", "benchmark", "commits/s", "× overwrite+fdatasync", "syncs/commit"])
        for (engine, outcome) in outcomes {
            for result in outcome.results {
                guard let commits = result.commits, commits > 0, result.seconds > 0 else { continue }
                let rate = Double(commits) / result.seconds
                table.append([
                    engine, String(result.threads), result.phase, NumberFormat.grouped(rate),
                    NumberFormat.fixed(rate / overwriteRate, places: 2) + "×",
                    result.syncsPerCommit.map { NumberFormat.fixed($0, places: 3) } ?? "–",
                ])
            }
        }
        return table
    }

    static func summaryTable(_ outcomes: [(engine: String, outcome: DBBench.Outcome)]) -> TextTable {
        var table = TextTable(headers: ["engine", "threads", "files", "disk", "live", "write amp", "fsyncs", "maintenance", "jemalloc allocated", "jemalloc resident"])
        for (engine, outcome) in outcomes {
            let pauses = outcome.events.reduce(0) { $0 + $1.durationNanos } / 1_000_000
            table.append([
                engine, String(outcome.results.first?.threads ?? 1), String(outcome.statistics.fileCount), ByteSize.format(outcome.statistics.diskBytes),
                outcome.statistics.liveBytes.map(ByteSize.format) ?? "–",
                outcome.countsEngineInternals ? outcome.metrics.writeAmplification.map { NumberFormat.fixed($0, places: 2) } ?? "–" : "–",
                outcome.countsEngineInternals ? String(outcome.metrics.syncs) : "–",
                outcome.countsEngineInternals ? "\(outcome.events.count) events, \(pauses) ms" : "–",
                outcome.allocator.map { ByteSize.format($0.allocated) } ?? "n/a",
                outcome.allocator.map { ByteSize.format($0.resident) } ?? "n/a",
            ])
        }
        return table
    }

    static func roundsTable(_ rounds: DBBenchRounds) -> TextTable {
        var table = TextTable(headers: ["engine", "threads", "benchmark", "median ops/s", "min", "max", "spread", "rounds"])
        for key in rounds.order {
            let spread = rounds.spread(key)
            table.append([
                key.engine, String(key.threads), key.phase, NumberFormat.grouped(spread.median),
                NumberFormat.grouped(spread.minimum), NumberFormat.grouped(spread.maximum),
                spread.median > 0 ? "±" + NumberFormat.fixed((spread.maximum - spread.minimum) / 2 / spread.median * 100, places: 1) + "%" : "–",
                String(spread.count),
            ])
        }
        return table
    }

    static func peerTable(_ ratios: [DBBenchRounds.PeerRatio]) -> TextTable {
        var table = TextTable(headers: ["engine", "peer", "threads", "benchmark", "median ratio", "min", "max", "rounds"])
        for ratio in ratios {
            table.append([
                ratio.engine, ratio.peer, String(ratio.threads), ratio.phase,
                NumberFormat.fixed(ratio.ratio.median, places: 2) + "×", NumberFormat.fixed(ratio.ratio.minimum, places: 2) + "×",
                NumberFormat.fixed(ratio.ratio.maximum, places: 2) + "×", String(ratio.ratio.count),
            ])
        }
        return table
    }
}
