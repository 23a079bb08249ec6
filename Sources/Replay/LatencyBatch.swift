import Histogram

/// Latencies of completed operations on their way into the interval's histograms, a few hundred
/// at a time: recording one increments a counter somewhere in a 256 KiB array, which the store's
/// own memory traffic keeps evicting, so one recording per operation paid a cache miss; a batch
/// of them issues those misses together. Each latency is recorded exactly as before — the batch
/// is emptied before an interval closes.
struct LatencyBatch {
    static var capacity: Int { 256 }
    /// Kind in the top three bits, nanoseconds below.
    private static var kindShift: UInt64 { 61 }

    private let values: UnsafeMutablePointer<UInt64>
    private var count = 0

    init() {
        values = .allocate(capacity: Self.capacity)
    }

    func deallocate() {
        values.deallocate()
    }

    /// Adds `latency` of an operation of `kind`, or records it at once in `histograms` when it
    /// does not fit the packing. Records the whole batch when it fills.
    @inline(__always)
    mutating func add(_ kind: MeasuredKind, _ latency: UInt64, flushingInto histograms: inout [Histogram<UInt64>]) {
        guard latency < 1 << Self.kindShift else {
            histograms[kind.rawValue].record(latency)
            return
        }
        values[count] = UInt64(kind.rawValue) << Self.kindShift | latency
        count += 1
        if count == Self.capacity { flush(into: &histograms) }
    }

    /// Records every waiting latency in `histograms` (indexed by kind).
    mutating func flush(into histograms: inout [Histogram<UInt64>]) {
        let mask: UInt64 = (1 << Self.kindShift) - 1
        for index in 0..<count {
            let value = values[index]
            histograms[Int(value >> Self.kindShift)].record(value & mask)
        }
        count = 0
    }
}
