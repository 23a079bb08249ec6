/// How many bad records or lines an import may skip (`--skip-bad N`), and the ones it skipped.
/// Past the limit the next bad one is an error naming its location.
public struct BadRecords: Sendable {
    /// Bad records allowed before the import fails (`Int.max`: any number).
    public let limit: Int
    public private(set) var count = 0
    /// The first few skipped, with their location.
    public private(set) var examples: [String] = []

    public init(limit: Int = 0) {
        self.limit = max(0, limit)
    }

    /// Counts `error` as skipped, or throws it once the limit is used up.
    mutating func skip(_ error: WorkloadError) throws {
        guard count < limit else {
            throw count > 0 ? error.noting(" (after skipping \(count) bad records, the --skip-bad limit)") : error
        }
        count += 1
        if examples.count < 5 { examples.append(error.description) }
    }
}
