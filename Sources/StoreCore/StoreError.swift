#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything an engine can report to its caller. Each case carries what a user needs to act:
/// the path, the offset, the system error, the limit that was crossed.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another open store (in this or another process) holds the directory's lock.
    case locked(path: String, holder: String?)
    /// A checksum, length or structural check failed while reading `file` at `offset`.
    case corrupted(file: String, offset: Int64, reason: String)
    /// A caller passed something the engine cannot accept (key too long, bad option, …).
    case invalidArgument(String)
    /// A system call failed.
    case io(call: String, errno: Int32, path: String)
    /// The directory exists but does not hold a storebench store.
    case notAStore(path: String, reason: String)
    /// The directory holds a store of another engine or an unsupported format version.
    case wrongEngine(path: String, found: String, expected: String)
    /// The store was used after `close()`.
    case closed
    /// The engine does not implement the request.
    case unsupported(String)
    /// A reference engine's library reported an error.
    case library(name: String, code: Int32, message: String, path: String)

    public var description: String {
        switch self {
        case let .locked(path, holder):
            let who = holder.map { " by process \($0)" } ?? ""
            return "store directory \(path) is locked\(who): another storebench store has it open"
        case let .corrupted(file, offset, reason):
            return "corruption in \(file) at offset \(offset): \(reason)"
        case let .invalidArgument(message):
            return "invalid argument: \(message)"
        case let .io(call, code, path):
            return "\(call) failed on \(path): \(String(cString: strerror(code))) (errno \(code))"
        case let .notAStore(path, reason):
            return "\(path) is not a storebench store: \(reason)"
        case let .wrongEngine(path, found, expected):
            return "\(path) holds a `\(found)` store, not `\(expected)`"
        case .closed:
            return "the store is closed"
        case let .unsupported(message):
            return "unsupported: \(message)"
        case let .library(name, code, message, path):
            return "\(name) failed on \(path): \(message) (code \(code))"
        }
    }
}
