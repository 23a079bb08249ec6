/// A deliberate slowdown of every file a store writes, to prove that regression checks catch a
/// worse engine (`storebench run --degrade …`). It acts in `DurableFile`, so the extra bytes and
/// syncs show up in the store's own counters as a real regression would. Never for measurements.
public enum Degradation: Sendable, Equatable, CustomStringConvertible {
    /// Every write is issued twice (file bytes written double; contents stay the same).
    case doubleWrites
    /// An fdatasync follows every write.
    case extraSync
    /// Every write first sleeps this many microseconds.
    case slowWrites(microseconds: UInt32)
    /// The crash child acknowledges each commit as if it were 64 trace records further on: an
    /// engine that acknowledges commits it has not made, which every crash check must catch as
    /// lost commits. (Acts in the crash child, not in the file layer.)
    case earlyAcknowledgement

    /// How far ahead `earlyAcknowledgement` claims to be.
    public static let earlyAcknowledgementLead = 64

    /// Parses `double-writes`, `extra-fsync`, `slow-writes:200`.
    public init?(parsing text: String) {
        switch text {
        case "double-writes": self = .doubleWrites
        case "extra-fsync": self = .extraSync
        case "early-ack": self = .earlyAcknowledgement
        default:
            guard text.hasPrefix("slow-writes:"), let microseconds = UInt32(text.dropFirst(12)) else { return nil }
            self = .slowWrites(microseconds: microseconds)
        }
    }

    public var description: String {
        switch self {
        case .doubleWrites: "double-writes"
        case .extraSync: "extra-fsync"
        case let .slowWrites(microseconds): "slow-writes:\(microseconds)"
        case .earlyAcknowledgement: "early-ack"
        }
    }
}
