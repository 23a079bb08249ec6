#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dedicated thread for an engine's background work (merging, flushing, periodic syncs). It runs
/// `body` once each time it is woken by `wake()` or every `period` milliseconds, until `stop()`.
/// `body` runs without the thread's lock held.
public final class MaintenanceThread: @unchecked Sendable {
    private let lock = Lock()
    private var pending = false
    private var stopping = false
    private var finished = false
    private let period: Int?
    private let body: () -> Void
    private var thread: pthread_t?

    /// - Parameter period: also run every `period` milliseconds when not woken.
    public init(period: Int? = nil, _ body: @escaping () -> Void) {
        self.period = period
        self.body = body
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let created = pthread_create(&handle, nil, { argument in
            let this = Unmanaged<MaintenanceThread>.fromOpaque(argument!).takeRetainedValue()
            this.loop()
            return nil
        }, box.toOpaque())
        precondition(created == 0, "pthread_create failed: \(created)")
        thread = handle
    }

    private func loop() {
        while true {
            lock.lock()
            while !pending && !stopping {
                if let period {
                    lock.wait(milliseconds: period)
                    break
                }
                lock.wait()
            }
            if stopping {
                finished = true
                lock.broadcast()
                lock.unlock()
                return
            }
            pending = false
            lock.unlock()
            body()
        }
    }

    /// Asks for one more run of `body` soon.
    public func wake() {
        lock.withLock {
            pending = true
            lock.broadcast()
        }
    }

    /// Stops the thread after the current run of `body` and waits for it to end.
    public func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
    }
}
