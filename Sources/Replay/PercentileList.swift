import ResultsSchema

/// `--percentiles 50,90,99,99.9,99.99`: the latency percentiles a run reports.
public enum PercentileList {
    /// Parses a comma-separated list of percentiles, each above 0 and at most 100, in order
    /// without repeats. - Returns: `nil` when any is not a number in range.
    public static func parse(_ text: String) -> [Double]? {
        var values: [Double] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Double(part.trimmingSpaces), value > 0, value <= 100 else { return nil }
            if !values.contains(value) { values.append(value) }
        }
        return values.isEmpty ? nil : values.sorted()
    }

    /// `p50`, `p99.9`, `p99.99`, `p100`: the key in results and the column in tables.
    public static func label(_ percentile: Double) -> String { PercentileLabel.of(percentile) }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var slice = self
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return slice
    }
}
