import StoreCore
import Workload

/// How a replay shares a trace's operations among worker threads.
///
/// - `threads(N)`: every operation goes to the worker its key hashes to, so the operations on one
///   key run on one worker, in their recorded order (a trace's per-key order is its meaning).
/// - `roles(readers:writers:)`: reads (gets, scans) go to the reader workers and writes (puts,
///   deletes, read-modify-writes, batches) to the writer workers, each by key hash. Writes keep
///   their per-key order; a read no longer waits for the writes recorded before it. Meant for
///   generated mixes, where the order of a read and a write is not a recorded fact.
public enum WorkerLayout: Sendable, Equatable, CustomStringConvertible {
    case threads(Int)
    case roles(readers: Int, writers: Int)

    public var workers: Int {
        switch self {
        case let .threads(count): count
        case let .roles(readers, writers): readers + writers
        }
    }

    public var description: String {
        switch self {
        case let .threads(count): "\(count) thread\(count == 1 ? "" : "s")"
        case let .roles(readers, writers): "\(readers) reader\(readers == 1 ? "" : "s") + \(writers) writer\(writers == 1 ? "" : "s")"
        }
    }

    /// Writer workers are 0..<writers, reader workers after them.
    @inline(__always)
    func worker(for kind: WorkloadOperation.Kind, key: [UInt8]) -> Int {
        let hash = Self.hash(key)
        switch self {
        case let .threads(count):
            return Int(hash % UInt64(count))
        case let .roles(readers, writers):
            switch kind {
            case .get, .scan: return writers + Int(hash % UInt64(readers))
            default: return Int(hash % UInt64(writers))
            }
        }
    }

    /// FNV-1a over the key, finished with a SplitMix64 step so nearby keys spread evenly. Fixed
    /// (not Swift's per-process seeded `Hasher`), so a seed replays the same partition every time.
    @inline(__always)
    static func hash(_ key: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        return hash ^ (hash >> 31)
    }
}
