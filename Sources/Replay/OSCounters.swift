#if canImport(Glibc)
import Glibc
#endif

/// The kernel's I/O accounting for this process (`/proc/self/io`).
enum OSCounters {
    /// `write_bytes`: bytes this process caused to be sent to the storage layer. Writeback is
    /// asynchronous, so bytes written just before a reading may show up in a later one.
    static func bytesWritten() -> Int? {
        field("write_bytes:")
    }

    /// `wchar`: bytes this process passed to write system calls (what a library asked to write,
    /// page cache or not) — the kernel's counterpart of an engine's own "file bytes written".
    static func bytesPassedToWrite() -> Int? {
        field("wchar:")
    }

    private static func field(_ name: String) -> Int? {
        guard let file = fopen("/proc/self/io", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix(name) {
                return Int(text.dropFirst(name.count).filter { $0.isNumber })
            }
        }
        return nil
    }
}
