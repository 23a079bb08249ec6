import CHardwareCRC
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A reader-writer lock (`pthread_rwlock_t`) that prefers writers: once a writer waits, new
/// readers queue behind it, so a steady stream of readers cannot starve the store's one writer.
///
/// Because it prefers writers, a thread must never take the read lock twice (a writer waiting
/// between the two would deadlock it). Hold it only around short in-memory work — the keydir
/// lookup, not the pread that follows.
public final class ReadWriteLock: @unchecked Sendable {
    private let rwlock: UnsafeMutablePointer<pthread_rwlock_t>

    public init() {
        rwlock = .allocate(capacity: 1)
        rwlock.initialize(to: pthread_rwlock_t())
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        #if canImport(Glibc)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        #endif
        pthread_rwlock_init(rwlock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
    }

    deinit {
        pthread_rwlock_destroy(rwlock)
        rwlock.deallocate()
    }

    @inline(__always)
    public func lockShared() {
        if pthread_rwlock_tryrdlock(rwlock) != 0 { wait(trying: pthread_rwlock_tryrdlock, then: pthread_rwlock_rdlock) }
    }

    @inline(__always)
    public func lockExclusive() {
        if pthread_rwlock_trywrlock(rwlock) != 0 { wait(trying: pthread_rwlock_trywrlock, then: pthread_rwlock_wrlock) }
    }

    /// Tries again for a few microseconds before sleeping. The lock is held for short in-memory
    /// work (a fraction of a microsecond), and glibc's rwlock never spins: with two threads taking
    /// it for every operation, each release woke the other thread from a futex sleep — a system
    /// call and a context switch per operation (`memory` ran the default mix at 2 threads 20×
    /// slower than at 1). A writer that spins does not yet count as waiting, so readers may pass
    /// it until it sleeps in `pthread_rwlock_wrlock`, where the writer preference holds.
    @inline(never)
    private func wait(
        trying attempt: (UnsafeMutablePointer<pthread_rwlock_t>) -> Int32,
        then block: (UnsafeMutablePointer<pthread_rwlock_t>) -> Int32
    ) {
        for _ in 0..<Self.spins {
            storebench_spin_pause()
            if attempt(rwlock) == 0 { return }
        }
        _ = block(rwlock)
    }

    /// Tries before sleeping: each is a pause and an attempt, tens of nanoseconds.
    private static var spins: Int { 200 }

    @inline(__always)
    public func unlock() { pthread_rwlock_unlock(rwlock) }

    /// Runs `body` holding the lock shared (other readers may hold it too).
    @inline(__always)
    public func withSharedLock<T>(_ body: () throws -> T) rethrows -> T {
        lockShared()
        defer { pthread_rwlock_unlock(rwlock) }
        return try body()
    }

    /// Runs `body` holding the lock exclusively.
    @inline(__always)
    public func withExclusiveLock<T>(_ body: () throws -> T) rethrows -> T {
        lockExclusive()
        defer { pthread_rwlock_unlock(rwlock) }
        return try body()
    }
}
