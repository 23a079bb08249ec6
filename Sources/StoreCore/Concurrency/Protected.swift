/// A value behind a `Lock`: this project's mutex-protected state. The standard library's
/// `Synchronization.Mutex` waits on futexes the Thread Sanitizer cannot see, so code using it is
/// reported racy however correct it is; a pthread mutex is understood, and as fast uncontended.
public final class Protected<Value>: @unchecked Sendable {
    private let lock = Lock()
    private var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value, holding the lock.
    @inline(__always)
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
