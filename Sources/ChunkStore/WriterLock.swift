#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The store's one-writer lock (a pthread mutex, so the Thread Sanitizer sees it), with the
/// count of writers queued for a group commit. A writer that finds nobody queued and the lock
/// free commits alone at once (`tryLockAlone`), without the queue's bookkeeping; any other
/// writer queues, so once writers contend they are grouped and a queued leader is never
/// overtaken by a stream of lone writers.
final class WriterLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Writers inside the group-commit queue (waiting, or leading a group).
    private let queued = Atomic<Int>(0)

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    func lock() { pthread_mutex_lock(mutex) }

    @inline(__always)
    func unlock() { pthread_mutex_unlock(mutex) }

    /// Takes the lock if no writer is queued and no one holds it.
    @inline(__always)
    func tryLockAlone() -> Bool {
        queued.load(ordering: .acquiring) == 0 && pthread_mutex_trylock(mutex) == 0
    }

    /// Runs `body` counted as a queued writer.
    @inline(__always)
    func queuing<T>(_ body: () throws -> T) rethrows -> T {
        queued.add(1, ordering: .acquiringAndReleasing)
        defer { queued.subtract(1, ordering: .acquiringAndReleasing) }
        return try body()
    }
}
