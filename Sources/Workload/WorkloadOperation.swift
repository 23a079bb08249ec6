/// One operation of a workload: what a trace records and the runner replays.
public struct WorkloadOperation: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case get = 1
        case put = 2
        case delete = 3
        /// Read up to `scanCount` entries from `key` on.
        case scan = 4
        /// Read `key`, then write a value of `valueSize` bytes to it.
        case readModifyWrite = 5
        /// The operations up to the next `commit` form one atomic batch.
        case begin = 6
        case commit = 7

        public var description: String {
            switch self {
            case .get: "get"
            case .put: "put"
            case .delete: "delete"
            case .scan: "scan"
            case .readModifyWrite: "rmw"
            case .begin: "begin"
            case .commit: "commit"
            }
        }

        public init?(name: String) {
            guard let kind = Self.allCases.first(where: { $0.description == name }) else { return nil }
            self = kind
        }

        /// Whether the operation carries a value size.
        public var writesValue: Bool { self == .put || self == .readModifyWrite }
    }

    public var kind: Kind
    public var key: [UInt8]
    /// Bytes of the value written (puts and read-modify-writes).
    public var valueSize: Int
    /// The value's bytes when the source had them; otherwise replay synthesizes `valueSize` bytes.
    public var value: [UInt8]?
    /// Entries a scan reads.
    public var scanCount: Int
    /// Microseconds since the start of the trace, when the source recorded time.
    public var timestamp: UInt64?

    public init(
        _ kind: Kind, key: [UInt8] = [], valueSize: Int = 0, value: [UInt8]? = nil,
        scanCount: Int = 0, timestamp: UInt64? = nil
    ) {
        self.kind = kind
        self.key = key
        self.valueSize = value?.count ?? valueSize
        self.value = value
        self.scanCount = scanCount
        self.timestamp = timestamp
    }
}

/// Errors of workload input, naming the file and the line or byte offset.
public enum WorkloadError: Error, Equatable, CustomStringConvertible {
    /// A text input line that cannot be understood.
    case malformedLine(file: String, line: Int, reason: String)
    /// A binary trace that cannot be read at `offset`.
    case malformedTrace(file: String, offset: Int64, reason: String)
    /// A workload spec that cannot be used.
    case invalidSpec(file: String, line: Int?, reason: String)
    /// Compressed input (zstd, gzip) that is cut off or corrupt at compressed byte `offset`.
    case malformedCompression(file: String, offset: Int64, reason: String)

    public var description: String {
        switch self {
        case let .malformedLine(file, line, reason): "\(file):\(line): \(reason)"
        case let .malformedTrace(file, offset, reason): "\(file): byte \(offset): \(reason)"
        case let .invalidSpec(file, line, reason): "\(file)\(line.map { ":\($0)" } ?? ""): \(reason)"
        case let .malformedCompression(file, offset, reason): "\(file): compressed byte \(offset): \(reason)"
        }
    }

    /// The same error with `note` added to its reason.
    func noting(_ note: String) -> WorkloadError {
        switch self {
        case let .malformedLine(file, line, reason): .malformedLine(file: file, line: line, reason: reason + note)
        case let .malformedTrace(file, offset, reason): .malformedTrace(file: file, offset: offset, reason: reason + note)
        case let .invalidSpec(file, line, reason): .invalidSpec(file: file, line: line, reason: reason + note)
        case let .malformedCompression(file, offset, reason): .malformedCompression(file: file, offset: offset, reason: reason + note)
        }
    }
}

/// A source of operations read one at a time (a trace reader, an importer, a generator), so that
/// multi-gigabyte inputs stream through constant memory.
public protocol OperationSource {
    /// Fills `operation` with the next operation, reusing its key buffer.
    /// - Returns: `false` at the end of the input.
    mutating func next(into operation: inout WorkloadOperation) throws -> Bool
}
