import StoreCore

/// The header of a trace: ordered `name = value` text fields. Readers rely on `source`, `created`,
/// `seed` and `load_operations`; any other field is carried along (FORMAT.md lists the known ones).
public struct TraceHeader: Sendable, Equatable {
    public private(set) var fields: [(name: String, value: String)] = []

    public init(_ fields: [(String, String)] = []) {
        for (name, value) in fields { self[name] = value }
    }

    public static func == (a: TraceHeader, b: TraceHeader) -> Bool {
        a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    public subscript(name: String) -> String? {
        get { fields.first { $0.name == name }?.value }
        set {
            if let index = fields.firstIndex(where: { $0.name == name }) {
                if let newValue { fields[index].value = newValue } else { fields.remove(at: index) }
            } else if let newValue {
                fields.append((name, newValue))
            }
        }
    }

    /// Where the operations came from (`ycsb`, `twitter:cluster52.csv`, `recorder`, …).
    public var source: String? { self["source"] }
    /// The seed that generated the trace, or that replay uses for synthesized values.
    public var seed: UInt64? { self["seed"].flatMap { UInt64($0) } }
    /// The first this many operations are the load phase (0: no load phase).
    public var loadOperations: Int { self["load_operations"].flatMap { Int($0) } ?? 0 }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendVarint(fields.count)
        for (name, value) in fields {
            let name = Array(name.utf8)
            let value = Array(value.utf8)
            bytes.appendVarint(name.count)
            bytes.append(contentsOf: name)
            bytes.appendVarint(value.count)
            bytes.append(contentsOf: value)
        }
        return bytes
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) -> TraceHeader? {
        var reader = ByteReader(bytes)
        guard let count = reader.readLength(limit: 10_000) else { return nil }
        var header = TraceHeader()
        for _ in 0..<count {
            guard let nameLength = reader.readLength(limit: 1 << 20), let name = reader.readBytes(nameLength),
                  let valueLength = reader.readLength(limit: 1 << 20), let value = reader.readBytes(valueLength)
            else { return nil }
            header[String(decoding: name, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
        }
        return reader.isAtEnd ? header : nil
    }
}

/// Constants of the binary trace format (Workloads/FORMAT.md).
enum TraceFormat {
    static let magic: [UInt8] = Array("SBTRACE".utf8) + [0]
    static let trailerMagic: [UInt8] = Array("SBTRAIL".utf8) + [0]
    static let version: UInt16 = 1
    static let endTag: UInt8 = 0
    static let kindMask: UInt8 = 0x07
    static let hasTimestamp: UInt8 = 0x08
    static let hasValue: UInt8 = 0x10
    /// End tag, record count (8), masked CRC32C of the record bytes (4), trailer magic (8).
    static let trailerSize = 1 + 8 + 4 + 8

    @inline(__always)
    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    @inline(__always)
    static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }
}
