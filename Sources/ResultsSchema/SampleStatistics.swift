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

    /// The mean and the half-width of its two-sided 95% confidence interval (Student's t with
    /// n − 1 degrees of freedom: repetitions are few and their spread is estimated from them);
    /// `nil` for fewer than two values.
    public static func meanConfidence95(_ values: [Double]) -> (mean: Double, halfWidth: Double)? {
        guard values.count >= 2 else { return nil }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return (mean, studentT975(degreesOfFreedom: values.count - 1) * (variance / n).squareRoot())
    }

    /// The 97.5% quantile of Student's t distribution (published table values; 1.96 beyond 30).
    static func studentT975(degreesOfFreedom df: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                               2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        return df >= 1 && df <= table.count ? table[df - 1] : 1.96
    }
}

/// The name a latency percentile goes by in results and tables: `p50`, `p99.9`, `p99.99`.
public enum PercentileLabel {
    public static func of(_ percentile: Double) -> String {
        var text = String(percentile)
        if text.hasSuffix(".0") { text.removeLast(2) }
        return "p" + text
    }
}
