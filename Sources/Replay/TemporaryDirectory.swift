#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// A new private directory under `$TMPDIR` (or /tmp), for stores and traces of one command.
public enum TemporaryDirectory {
    /// - Parameter parent: where to create it (default: `$TMPDIR`, else /tmp).
    public static func make(prefix: String = "storebench-run", under parent: String? = nil) throws -> String {
        let base = parent ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/\(prefix)-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw StoreError.io(call: "mkdtemp", errno: errno, path: base)
        }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
