import Histogram
import StoreCore

/// Builds the time series of a replay from every worker's intervals. Interval k covers
/// [k·length, (k+1)·length) after the start; each worker hands over its count and latency
/// histogram of an interval once its clock has passed the interval's end, and the interval is
/// closed — its percentiles taken from the exact merge of every worker's histogram, the store's
/// disk usage sampled — once every worker has moved past it. So the p99 of an interval is the
/// p99 of all its operations, never an average of per-thread percentiles.
final class IntervalBoard: @unchecked Sendable {
    private let lock = Lock()
    let start: UInt64
    let lengthNanos: UInt64
    private let workers: Int
    /// Per worker: the first interval it has not handed over yet.
    private var reportedThrough: [Int]
    /// Open intervals by index: operations completed and their latencies by kind.
    private var open: [Int: (count: Int, histograms: [Histogram<UInt64>])] = [:]
    /// The first interval not yet closed.
    private var nextToClose = 0
    private var completed = 0
    private(set) var series = PhaseMeasurement.Timeseries()
    private let diskUsage: (() throws -> StoreStatistics)?
    private let progress: ((Int, Double, Double) -> Void)?
    private var failure: (any Error)?

    init(start: UInt64, lengthSeconds: Double, workers: Int,
         diskUsage: (() throws -> StoreStatistics)?, progress: ((Int, Double, Double) -> Void)?) {
        self.start = start
        lengthNanos = max(1, UInt64(lengthSeconds * 1e9))
        self.workers = workers
        reportedThrough = Array(repeating: 0, count: workers)
        self.diskUsage = diskUsage
        self.progress = progress
    }

    /// The interval a time falls in.
    @inline(__always)
    func interval(at time: UInt64) -> Int {
        Int((time &- start) / lengthNanos)
    }

    /// The end of interval `index`, as a clock reading.
    @inline(__always)
    func end(of index: Int) -> UInt64 {
        start + UInt64(index + 1) * lengthNanos
    }

    /// `worker` hands over interval `index` (`count` operations, their latencies by kind) and
    /// moves on to interval `next` (intervals between them had none of its operations).
    func report(worker: Int, interval index: Int, count: Int, histograms: [Histogram<UInt64>], movingTo next: Int) {
        lock.withLock {
            if count > 0 {
                if open[index] == nil {
                    open[index] = (count, histograms)
                } else {
                    open[index]!.count += count
                    for kind in histograms.indices where histograms[kind].totalCount > 0 {
                        open[index]!.histograms[kind].add(histograms[kind])
                    }
                }
            }
            reportedThrough[worker] = max(reportedThrough[worker], next)
            // Once every worker has ended, `finish` closes the rest (the last interval is cut).
            let limit = reportedThrough.min()!
            if limit != .max { closeFinishedIntervals(upTo: limit, now: nil) }
        }
    }

    /// Closes every interval after the last worker ended at `end`; the last one is cut at `end`.
    func finish(at end: UInt64) throws -> PhaseMeasurement.Timeseries {
        try lock.withLock {
            let last = interval(at: end)
            let lastOpen = open.keys.max() ?? -1
            closeFinishedIntervals(upTo: max(last, lastOpen) + 1, now: end)
            if series.t.isEmpty { appendSample(count: 0, histograms: nil, seconds: Double(end &- start) / 1e9, length: Double(end &- start) / 1e9) }
            if let failure { throw failure }
            return series
        }
    }

    /// Closes intervals below `limit`. With `now` (the end of the replay), the interval it falls
    /// in is cut there, and empty intervals after the last operation are not drawn.
    private func closeFinishedIntervals(upTo limit: Int, now: UInt64?) {
        while nextToClose < limit {
            let index = nextToClose
            nextToClose += 1
            let entry = open.removeValue(forKey: index)
            var seconds = Double(index + 1) * Double(lengthNanos) / 1e9
            var length = Double(lengthNanos) / 1e9
            if let now, end(of: index) > now {
                guard entry != nil || series.t.isEmpty || index == interval(at: now) else { continue }
                seconds = Double(now &- start) / 1e9
                length = max(seconds - Double(index) * Double(lengthNanos) / 1e9, 1e-9)
            }
            appendSample(count: entry?.count ?? 0, histograms: entry?.histograms, seconds: seconds, length: length)
        }
    }

    private func appendSample(count: Int, histograms: [Histogram<UInt64>]?, seconds: Double, length: Double) {
        completed += count
        let rate = Double(count) / length
        series.t.append(seconds)
        series.opsPerSecond.append(rate)
        var all = makeHistogram()
        for (kind, histogram) in zip(MeasuredKind.allCases, histograms ?? []) where histogram.totalCount > 0 {
            all.add(histogram)
            series.latencyLog.append(HdrHistogramLog.line(tag: kind.name, start: seconds - length, length: length, histogram: histogram))
        }
        if all.totalCount > 0 {
            series.latencyLog.append(HdrHistogramLog.line(tag: "all", start: seconds - length, length: length, histogram: all))
        }
        func microseconds(_ percentile: Double) -> Double {
            all.totalCount > 0 ? Double(all.valueAtPercentile(percentile)) / 1000 : 0
        }
        series.p50Microseconds.append(microseconds(50))
        series.p99Microseconds.append(microseconds(99))
        series.p999Microseconds.append(microseconds(99.9))
        series.maxMicroseconds.append(all.totalCount > 0 ? Double(all.max) / 1000 : 0)
        if let diskUsage {
            do {
                let usage = try diskUsage()
                series.diskBytes.append(usage.diskBytes)
                series.allocatedDiskBytes.append(usage.allocatedBytes)
            } catch {
                failure = failure ?? error
                series.diskBytes.append(series.diskBytes.last ?? 0)
                series.allocatedDiskBytes.append(series.allocatedDiskBytes.last ?? 0)
            }
        }
        progress?(completed, seconds, rate)
    }
}
