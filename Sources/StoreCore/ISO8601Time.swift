import Foundation

/// UTC time stamps: ISO 8601 for trace headers, compact for directory names.
public enum ISO8601Time {
    /// `2026-11-21T10:41:45Z`.
    public static func now() -> String {
        let (date, time) = parts()
        return "\(date.0)-\(date.1)-\(date.2)T\(time.0):\(time.1):\(time.2)Z"
    }

    /// `20261121-104145`, for names that sort by time.
    public static func compact() -> String {
        let (date, time) = parts()
        return "\(date.0)\(date.1)\(date.2)-\(time.0)\(time.1)\(time.2)"
    }

    private static func parts() -> ((String, String, String), (String, String, String)) {
        var seconds = time(nil)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return ((String(parts.tm_year + 1900), two(parts.tm_mon + 1), two(parts.tm_mday)),
                (two(parts.tm_hour), two(parts.tm_min), two(parts.tm_sec)))
    }
}
