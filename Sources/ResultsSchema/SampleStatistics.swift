/// The one median and percentile every figure built from repeated samples uses (repetitions in
/// `compare`, rounds in `dbbench`, open times, the report's scaling charts), so that "median" means
/// the same thing in every table.
public enum SampleStatistics {
    /// The median: the middle value, or the mean of the two middle values for an even count;
    /// 0 for no values.
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The nearest-rank percentile of values sorted ascending (`fraction` 0.99 for p99): the
    /// smallest value with at least that fraction of the values at or below it; 0 for no values.
    public static func percentile(sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((Double(sorted.count) * fraction).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }
}
