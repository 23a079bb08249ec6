#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// A new private directory under `$TMPDIR` (or /tmp), for stores and traces of one command.
public enum TemporaryDirectory {
    public static func make(prefix: String = "storebench-run") throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/\(prefix)-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw StoreError.io(call: "mkdtemp", errno: errno, path: base)
        }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
