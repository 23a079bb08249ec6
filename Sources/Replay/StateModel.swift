import StoreCore
import Workload

/// What a store must hold after a prefix of a trace: for each live key, the value the replayer
/// wrote (identified by the trace position of the write, which together with the seed and key
/// determines its bytes).
struct StateModel {
    enum Value: Equatable {
        case synthesized(size: Int, version: Int)
        case explicit([UInt8])
    }

    var entries: [[UInt8]: Value] = [:]

    /// Applies one write at trace position `position`.
    mutating func apply(_ operation: WorkloadOperation, at position: Int) {
        switch operation.kind {
        case .put, .readModifyWrite:
            entries[operation.key] = operation.value.map { .explicit($0) } ?? .synthesized(size: operation.valueSize, version: position)
        case .delete:
            entries[operation.key] = nil
        case .get, .scan, .begin, .commit:
            break
        }
    }

    /// The bytes `value` stands for.
    static func bytes(_ value: Value, key: [UInt8], synthesizer: ValueSynthesizer, into buffer: inout [UInt8]) {
        switch value {
        case let .explicit(bytes): buffer = bytes
        case let .synthesized(size, version): synthesizer.fill(&buffer, size: size, key: key, version: UInt64(version))
        }
    }
}
