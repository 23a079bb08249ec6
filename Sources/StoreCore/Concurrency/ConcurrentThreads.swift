#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs bodies on real threads (not a thread pool capped at the core count, which would
/// serialise blocked writers), all released at once, and rethrows the first error any of them
/// threw after every thread has ended.
public enum ConcurrentThreads {
    /// A start line: threads wait at it until every one is ready.
    private final class Gate: Sendable {
        private let waiting = Atomic<Int>(0)
        let count: Int
        init(count: Int) { self.count = count }
        func arriveAndWait() {
            waiting.add(1, ordering: .acquiringAndReleasing)
            while waiting.load(ordering: .acquiring) < count { sched_yield() }
        }
    }

    /// Runs `body(index)` for `index` in `0..<count`, each on its own thread.
    public static func run(_ count: Int, _ body: @escaping @Sendable (_ index: Int) throws -> Void) throws {
        let gate = Gate(count: count)
        var threads: [pthread_t] = []
        let shared = ErrorBox()
        for index in 0..<count {
            let context = Unmanaged.passRetained(ThreadContext(index: index, body: body, gate: gate, errors: shared))
            var thread = pthread_t()
            let created = pthread_create(&thread, nil, { argument in
                let context = Unmanaged<ThreadContext>.fromOpaque(argument!).takeRetainedValue()
                context.gate.arriveAndWait()
                do {
                    try context.body(context.index)
                } catch {
                    context.errors.append(error)
                }
                return nil
            }, context.toOpaque())
            precondition(created == 0, "pthread_create failed: \(created)")
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        if let first = shared.first { throw first }
    }

    /// Gives the processor to another thread.
    public static func yield() { sched_yield() }

    private final class ErrorBox: Sendable {
        private let errors = Protected<[any Error]>([])
        func append(_ error: any Error) { errors.withLock { $0.append(error) } }
        var first: (any Error)? { errors.withLock { $0.first } }
    }

    private final class ThreadContext: @unchecked Sendable {
        let index: Int
        let body: @Sendable (Int) throws -> Void
        let gate: Gate
        let errors: ErrorBox
        init(index: Int, body: @escaping @Sendable (Int) throws -> Void, gate: Gate, errors: ErrorBox) {
            self.index = index
            self.body = body
            self.gate = gate
            self.errors = errors
        }
    }
}
