import StoreCore

/// Reads a text file line by line through a 1 MiB window (constant memory), for the importers;
/// zstd- and gzip-compressed files are decompressed as a stream. Accepts `\n` and `\r\n` endings;
/// counts lines from 1 for error messages.
public struct LineReader {
    public let path: String
    private var window: StreamWindow
    private var offset: Int64 = 0
    /// Number of the line last returned.
    public private(set) var lineNumber = 0

    public init(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws {
        try self.init(source: try ByteSource.open(path, fileSystem: fileSystem))
    }

    public init(source: ByteSource) {
        path = source.path
        window = StreamWindow(source: source)
    }

    /// Calls `body` with the next line's bytes (without its ending).
    /// - Returns: `nil` at the end of the file.
    public mutating func nextLine<T>(_ body: (UnsafeRawBufferPointer) throws -> T) throws -> T? {
        _ = try window.ensure(offset, 1)
        while true {
            let available = window.available(from: offset)
            let newline = window.withAvailableBytes(from: offset) { $0.firstIndex(of: UInt8(ascii: "\n")) }
            if let newline {
                return try emit(length: newline, consumed: newline + 1, body)
            }
            if window.ended {
                guard available > 0 else { return nil }
                return try emit(length: available, consumed: available, body)
            }
            guard available < 64 << 20 else {
                throw WorkloadError.malformedLine(file: path, line: lineNumber + 1, reason: "line longer than 64 MiB")
            }
            // No line end in what is loaded: load more, a bigger window when the line fills it.
            try window.refill(from: offset, atLeast: available * 2 + 1)
        }
    }

    private mutating func emit<T>(length: Int, consumed: Int, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        lineNumber += 1
        let start = offset
        offset += Int64(consumed)
        return try window.withBytes(start, length) { line in
            let trimmed = line.last == UInt8(ascii: "\r") ? UnsafeRawBufferPointer(rebasing: line.dropLast()) : line
            return try body(trimmed)
        }
    }
}

/// Splits a line on a separator byte without copying.
enum Fields {
    static func split(_ line: UnsafeRawBufferPointer, separator: UInt8) -> [UnsafeRawBufferPointer] {
        var fields: [UnsafeRawBufferPointer] = []
        var start = 0
        for index in 0..<line.count where line[index] == separator {
            fields.append(UnsafeRawBufferPointer(rebasing: line[start..<index]))
            start = index + 1
        }
        fields.append(UnsafeRawBufferPointer(rebasing: line[start...]))
        return fields
    }

    static func string(_ field: UnsafeRawBufferPointer) -> String {
        String(decoding: field, as: UTF8.self)
    }

    /// A non-negative decimal integer, or `nil`.
    static func integer(_ field: UnsafeRawBufferPointer) -> Int? {
        guard !field.isEmpty, field.count <= 18 else { return nil }
        var value = 0
        for byte in field {
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }

    /// Bytes of a hexadecimal field, with or without `0x`.
    static func hex(_ field: UnsafeRawBufferPointer) -> [UInt8]? {
        var digits = field
        if digits.count >= 2 && digits[0] == UInt8(ascii: "0") && (digits[1] | 0x20) == UInt8(ascii: "x") {
            digits = UnsafeRawBufferPointer(rebasing: digits[2...])
        }
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: byte - 48
        case 97...102: byte - 87
        case 65...70: byte - 55
        default: nil
        }
    }
}
