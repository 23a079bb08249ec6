#if canImport(Glibc)
import Glibc
#endif

/// Prints `warning: …` on standard error.
func printWarning(_ message: String) {
    var standardError = StandardError()
    print("warning: \(message)", to: &standardError)
}

/// Standard error as a stream for `print(…, to:)`: written straight to file descriptor 2.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
