import StoreCore

/// Reads a text file line by line through a 1 MiB window (constant memory), for the importers.
/// Accepts `\n` and `\r\n` endings; counts lines from 1 for error messages.
public struct LineReader {
    public let path: String
    private let file: DurableFile
    private let fileSize: Int64
    private var window: [UInt8] = [UInt8](repeating: 0, count: 1 << 20)
    private var windowStart: Int64 = 0
    private var windowCount = 0
    private var position = 0
    /// Number of the line last returned.
    public private(set) var lineNumber = 0

    public init(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let directory = StorageDirectory(path: parent.isEmpty ? "/" : parent, fileSystem: fileSystem, metrics: StoreMetrics())
        file = try directory.open(name)
        fileSize = try file.size()
    }

    /// Calls `body` with the next line's bytes (without its ending).
    /// - Returns: `false` at the end of the file.
    public mutating func nextLine<T>(_ body: (UnsafeRawBufferPointer) throws -> T) throws -> T? {
        while true {
            if let newline = window[position..<windowCount].firstIndex(of: UInt8(ascii: "\n")) {
                return try emit(upTo: newline, consuming: newline + 1, body)
            }
            let atEnd = windowStart + Int64(windowCount) >= fileSize
            if atEnd {
                guard position < windowCount else { return nil }
                return try emit(upTo: windowCount, consuming: windowCount, body)
            }
            try refill()
        }
    }

    private mutating func emit<T>(upTo end: Int, consuming next: Int, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        lineNumber += 1
        var last = end
        if last > position && window[last - 1] == UInt8(ascii: "\r") { last -= 1 }
        let start = position
        position = next
        return try window.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<last])) }
    }

    private mutating func refill() throws {
        let tail = windowCount - position
        if tail == window.count {
            // A line longer than the window: grow it (lines are short in every supported format).
            guard window.count < 64 << 20 else {
                throw WorkloadError.malformedLine(file: path, line: lineNumber + 1, reason: "line longer than 64 MiB")
            }
            window += [UInt8](repeating: 0, count: window.count)
        }
        window.withUnsafeMutableBytes { raw in
            if tail > 0 && position > 0 { raw.baseAddress!.copyMemory(from: raw.baseAddress! + position, byteCount: tail) }
        }
        windowStart += Int64(position)
        position = 0
        let offset = windowStart + Int64(tail)
        let want = min(window.count - tail, Int(fileSize - offset))
        let file = self.file
        var readError: StoreError?
        let got = window.withUnsafeMutableBytes { raw in
            do throws(StoreError) {
                return try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[tail..<(tail + want)]), at: offset)
            } catch {
                readError = error
                return 0
            }
        }
        if let readError { throw readError }
        windowCount = tail + got
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
