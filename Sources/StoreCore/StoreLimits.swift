/// Size limits every engine enforces, so a workload behaves the same on each of them.
public enum StoreLimits {
    /// Largest key accepted, in bytes (64 KiB).
    public static let maxKeySize = 64 * 1024
    /// Largest value accepted, in bytes (64 MiB).
    public static let maxValueSize = 64 * 1024 * 1024

    /// Throws `StoreError.invalidArgument` when `key` is longer than `maxKeySize`.
    @inline(__always)
    public static func check(keySize: Int) throws(StoreError) {
        if keySize > maxKeySize {
            throw .invalidArgument("key of \(keySize) bytes exceeds the limit of \(maxKeySize) bytes (64 KiB)")
        }
    }

    /// Throws `StoreError.invalidArgument` when `value` is longer than `maxValueSize`.
    @inline(__always)
    public static func check(valueSize: Int) throws(StoreError) {
        if valueSize > maxValueSize {
            throw .invalidArgument("value of \(valueSize) bytes exceeds the limit of \(maxValueSize) bytes (64 MiB)")
        }
    }
}
