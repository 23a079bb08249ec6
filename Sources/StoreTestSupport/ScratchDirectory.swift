import Foundation

/// A fresh directory under the system temporary directory, removed with everything in it by
/// `remove()`. Tests put store directories inside it.
public final class ScratchDirectory: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "test") throws {
        let base = NSTemporaryDirectory()
        path = (base as NSString).appendingPathComponent("storebench-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path inside the scratch directory (not created).
    public func child(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    deinit { remove() }
}
