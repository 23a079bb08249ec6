import Foundation
import StoreCore

/// The text interchange form of a trace: one JSON object per line.
///
/// `{"op":"put","key":"user42","value_size":100,"ts":1500}`; keys that are not plain printable
/// text are written as `"key_hex"`; a value's bytes, when known, as `"value_hex"`; a scan's count
/// as `"count"`. `op` is one of get, put, delete, scan, rmw, begin, commit.
public enum JSONLines {
    /// Encodes one operation as a line (without the newline).
    public static func encode(_ operation: WorkloadOperation) -> String {
        var line = "{\"op\":\"\(operation.kind)\""
        if operation.kind != .begin && operation.kind != .commit {
            if let text = plainText(operation.key) {
                line += ",\"key\":\"\(text)\""
            } else {
                line += ",\"key_hex\":\"\(hex(operation.key))\""
            }
        }
        if operation.kind.writesValue {
            line += ",\"value_size\":\(operation.valueSize)"
            if let value = operation.value { line += ",\"value_hex\":\"\(hex(value))\"" }
        }
        if operation.kind == .scan { line += ",\"count\":\(operation.scanCount)" }
        if let timestamp = operation.timestamp { line += ",\"ts\":\(timestamp)" }
        return line + "}"
    }

    /// Decodes one line; throws a reason (the caller adds file and line).
    public static func decode(_ line: UnsafeRawBufferPointer) throws -> WorkloadOperation {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line))
        } catch {
            throw Reason("not valid JSON")
        }
        guard let fields = object as? [String: Any] else { throw Reason("not a JSON object") }
        guard let name = fields["op"] as? String else { throw Reason("missing \"op\"") }
        guard let kind = WorkloadOperation.Kind(name: name) else { throw Reason("unknown op \"\(name)\"") }
        var operation = WorkloadOperation(kind)
        if let key = fields["key"] as? String {
            operation.key = Array(key.utf8)
        } else if let key = fields["key_hex"] as? String {
            guard let bytes = Array(key.utf8).withUnsafeBytes({ Fields.hex($0) }) else { throw Reason("key_hex is not hexadecimal") }
            operation.key = bytes
        } else if kind != .begin && kind != .commit {
            throw Reason("missing \"key\" or \"key_hex\"")
        }
        guard operation.key.count <= StoreLimits.maxKeySize else { throw Reason("key exceeds 64 KiB") }
        if kind.writesValue {
            if let value = fields["value_hex"] as? String {
                guard let bytes = Array(value.utf8).withUnsafeBytes({ Fields.hex($0) }) else { throw Reason("value_hex is not hexadecimal") }
                operation.value = bytes
                operation.valueSize = bytes.count
            } else {
                guard let size = integer(fields["value_size"]), size <= StoreLimits.maxValueSize else {
                    throw Reason("missing or invalid \"value_size\"")
                }
                operation.valueSize = size
            }
        }
        if kind == .scan {
            guard let count = integer(fields["count"]) else { throw Reason("missing or invalid \"count\"") }
            operation.scanCount = count
        }
        if let stamp = fields["ts"] {
            guard let timestamp = integer(stamp) else { throw Reason("invalid \"ts\"") }
            operation.timestamp = UInt64(timestamp)
        }
        return operation
    }

    /// Why a line could not be decoded.
    public struct Reason: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    private static func integer(_ value: Any?) -> Int? {
        if let number = value as? NSNumber, number.doubleValue >= 0, number.doubleValue == number.doubleValue.rounded() {
            return number.intValue
        }
        return nil
    }

    private static func plainText(_ key: [UInt8]) -> String? {
        for byte in key where byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            return nil
        }
        return String(decoding: key, as: UTF8.self)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Writes JSON Lines through the durable file layer: `NAME.tmp` until `finish()` renames it.
public final class JSONLinesWriter {
    private let file: AtomicFileWriter
    private var buffer: [UInt8] = []
    public private(set) var count = 0

    public init(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws {
        file = try AtomicFileWriter(path: path, fileSystem: fileSystem)
    }

    public func append(_ operation: WorkloadOperation) throws {
        buffer.append(contentsOf: JSONLines.encode(operation).utf8)
        buffer.append(UInt8(ascii: "\n"))
        count += 1
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        try file.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    @discardableResult
    public func finish() throws -> Int {
        try flush()
        try file.finish()
        return count
    }
}
