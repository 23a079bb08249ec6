import StoreCore

/// How a trace is reshaped before replay (`run --speed --scale-keys --sample --window`, also on
/// `workload convert`): applied as a streaming transform, `ReplayTransform`, so any size of trace
/// passes through constant memory.
public struct ReplayControls: Sendable, Equatable, CustomStringConvertible {
    /// Recorded times run this many times faster (times are divided by it; a paced replay,
    /// `--pace recorded`, then follows them).
    public var speed: Double?
    /// Each key becomes this many keys (`key#0` … `key#K-1`).
    public var scaleKeys = 1
    /// SHARDS-style spatial sampling: a key is kept iff its hash mod 2^24 < rate · 2^24.
    public var sample: Double?
    /// Seconds of trace time, from the first timed operation of the run phase: `[start, end)`.
    public var window: (start: Double, end: Double)?
    /// Seeds the key hashes of `scaleKeys` and `sample`.
    public var seed: UInt64 = 0

    public init(speed: Double? = nil, scaleKeys: Int = 1, sample: Double? = nil, window: (start: Double, end: Double)? = nil, seed: UInt64 = 0) {
        self.speed = speed
        self.scaleKeys = scaleKeys
        self.sample = sample
        self.window = window
        self.seed = seed
    }

    public static func == (a: ReplayControls, b: ReplayControls) -> Bool {
        a.speed == b.speed && a.scaleKeys == b.scaleKeys && a.sample == b.sample && a.seed == b.seed
            && a.window?.start == b.window?.start && a.window?.end == b.window?.end
    }

    /// Whether the controls leave a trace as it is.
    public var isEmpty: Bool { speed == nil && scaleKeys == 1 && sample == nil && window == nil }

    /// Whether the controls change which or how many operations there are.
    var changesCount: Bool { scaleKeys != 1 || sample != nil || window != nil }

    public var description: String {
        var parts: [String] = []
        if let speed { parts.append("speed \(speed)") }
        if scaleKeys != 1 { parts.append("scale-keys \(scaleKeys)") }
        if let sample { parts.append("sample \(sample)") }
        if let window { parts.append("window \(window.start)..\(window.end) s") }
        if scaleKeys != 1 || sample != nil { parts.append("seed \(seed)") }
        return parts.joined(separator: ", ")
    }

    /// Parses `START..END` (seconds; either side may be left out).
    public static func window(parsing text: String) throws(StoreError) -> (start: Double, end: Double) {
        let parts = text.splitting(on: "..")
        guard parts.count == 2 else { throw .invalidArgument("--window takes START..END in seconds of trace time, e.g. 60..120") }
        let start = parts[0].isEmpty ? 0 : Double(parts[0])
        let end = parts[1].isEmpty ? Double.infinity : Double(parts[1])
        guard let start, let end, start >= 0, end > start else {
            throw .invalidArgument("--window `\(text)`: give START..END seconds with 0 <= START < END")
        }
        return (start, end)
    }

    public func validate() throws(StoreError) {
        if let speed, !(speed > 0 && speed.isFinite) { throw .invalidArgument("--speed must be a positive number") }
        guard (1...1_000_000).contains(scaleKeys) else { throw .invalidArgument("--scale-keys must be from 1 to 1,000,000") }
        if let sample, !(sample > 0 && sample <= 1) { throw .invalidArgument("--sample must be a fraction in (0, 1]") }
    }
}

extension String {
    func splitting(on separator: String) -> [String] {
        var parts: [String] = []
        var rest = self[...]
        while let range = rest.range(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
