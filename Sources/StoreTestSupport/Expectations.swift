import StoreCore

/// A failed conformance expectation, with the place in the suite that made it.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let message: String
    public let file: StaticString
    public let line: UInt

    public var description: String { "\(file):\(line): \(message)" }
}

/// Throws `ConformanceFailure` unless `condition` holds. The suite uses these rather than a test
/// framework's macros so that it runs unchanged under any runner (and from the CLI).
public func expect(
    _ condition: Bool, _ message: @autoclosure () -> String,
    file: StaticString = #filePath, line: UInt = #line
) throws {
    if !condition { throw ConformanceFailure(message: message(), file: file, line: line) }
}

public func expectEqual<T: Equatable>(
    _ actual: T, _ expected: T, _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) throws {
    if actual != expected {
        let context = message()
        throw ConformanceFailure(
            message: "\(context.isEmpty ? "" : context + ": ")expected \(describe(expected)), got \(describe(actual))",
            file: file, line: line)
    }
}

/// Runs `body`, which must throw a `StoreError` for which `matches` is true.
/// - Returns: the error, for further checks.
@discardableResult
public func expectStoreError<T>(
    _ what: String, file: StaticString = #filePath, line: UInt = #line,
    matching matches: (StoreError) -> Bool, _ body: () throws -> T
) throws -> StoreError {
    do {
        _ = try body()
    } catch let error as StoreError {
        if matches(error) { return error }
        throw ConformanceFailure(message: "\(what): wrong error: \(error)", file: file, line: line)
    } catch {
        throw ConformanceFailure(message: "\(what): expected a StoreError, got \(error)", file: file, line: line)
    }
    throw ConformanceFailure(message: "\(what): expected an error, the call succeeded", file: file, line: line)
}

/// Short rendering of byte arrays (length and a hex prefix) so failures stay readable.
func describe<T>(_ value: T) -> String {
    if let bytes = value as? [UInt8] { return hex(bytes) }
    if let optional = value as? [UInt8]? { return optional.map(hex) ?? "nil" }
    return String(describing: value)
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = "0123456789abcdef".map { $0 }
    let shown = bytes.prefix(16).map { String([digits[Int($0 >> 4)], digits[Int($0 & 15)]]) }.joined()
    return "[\(bytes.count) bytes: \(shown)\(bytes.count > 16 ? "…" : "")]"
}
