#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Which of the stripes of a `StripedCounter` or `StripedReadWriteLock` the calling thread uses:
/// threads spread over the stripes by a hash of their id, so that two threads rarely share one.
public enum ThreadStripe {
    /// Stripes per counter (a power of two).
    public static let count = 16

    /// The calling thread's stripe, in `0..<count`.
    @inlinable @inline(__always)
    public static func current() -> Int {
        #if canImport(Glibc)
        let id = UInt64(pthread_self())
        #else
        let id = UInt64(UInt(bitPattern: pthread_self()))
        #endif
        return Int(truncatingIfNeeded: (id &* 0x9E37_79B9_7F4A_7C15) >> 60)
    }
}

/// A counter spread over `ThreadStripe.count` cache lines: a thread changes only its stripe's
/// line, so threads counting at once on different cores do not move one cache line back and
/// forth between them. Reading the total looks at every stripe.
public final class StripedCounter: @unchecked Sendable {
    /// Bytes between stripes: two cache lines, so that the adjacent-line prefetcher does not pair
    /// two stripes either.
    @usableFromInline static let spacing = 128
    @usableFromInline let base: UnsafeMutableRawPointer

    public init() {
        base = UnsafeMutableRawPointer.allocate(byteCount: ThreadStripe.count * Self.spacing, alignment: Self.spacing)
        for stripe in 0..<ThreadStripe.count {
            (base + stripe * Self.spacing).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0))
        }
    }

    deinit {
        for stripe in 0..<ThreadStripe.count {
            (base + stripe * Self.spacing).assumingMemoryBound(to: Atomic<Int>.self).deinitialize(count: 1)
        }
        base.deallocate()
    }

    @inlinable @inline(__always)
    func stripe(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + index * Self.spacing).assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// Adds one on `stripe` (relaxed: callers order it with a lock or their own fences).
    @inlinable @inline(__always)
    public func increment(stripe index: Int) {
        stripe(index).pointee.wrappingAdd(1, ordering: .relaxed)
    }

    /// Takes one off `stripe`; what the thread did before happens before a reader of the total
    /// that sees the decrement.
    @inlinable @inline(__always)
    public func decrement(stripe index: Int) {
        stripe(index).pointee.wrappingSubtract(1, ordering: .releasing)
    }

    /// The sum over all stripes (each read with acquire ordering; together they are not a
    /// snapshot unless the caller keeps the count from rising).
    public var total: Int {
        var sum = 0
        for index in 0..<ThreadStripe.count { sum &+= stripe(index).pointee.load(ordering: .acquiring) }
        return sum
    }

    /// Waits until the total is zero. Only meaningful once nothing can increment any more.
    public func waitUntilZero() {
        var spins = 0
        while total != 0 {
            spins += 1
            if spins < 100 { sched_yield() } else { usleep(50) }
        }
    }
}

/// A reader-writer lock for read-mostly state whose readers scale across cores: a reader
/// announces itself on its own stripe of a `StripedCounter` (a line no other core writes) and
/// checks a writer flag, so parallel readers never contend on a shared line the way they do on
/// `pthread_rwlock_t`'s reader count. A writer raises the flag and waits until every stripe is
/// empty; readers arriving meanwhile step back and wait for it, so writers are not starved.
///
/// The cost moves to the writer, which reads every stripe: meant for state that is read far more
/// often than written. Waiters spin, yield, then sleep in short naps rather than block on a
/// futex, so sections should be short (in-memory work). Writers take turns on the flag itself. As
/// with `ReadWriteLock`, a thread must never take the shared lock twice (a writer waiting between
/// the two would deadlock it).
public final class StripedReadWriteLock: @unchecked Sendable {
    @usableFromInline let readers = StripedCounter()
    /// Raised by the one writer that holds or is taking the lock (writers take turns on it).
    @usableFromInline let writerActive = Atomic<Bool>(false)

    public init() {}

    /// Takes the lock shared on the calling thread's stripe (`ThreadStripe.current()`), which
    /// the matching `unlockShared` must be given.
    @inlinable @inline(__always)
    public func lockShared(stripe: Int) {
        while true {
            // Announce, then look for a writer; the writer raises its flag, then looks for
            // readers. Sequentially consistent, so at least one of the two sees the other.
            readers.stripe(stripe).pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if !writerActive.load(ordering: .sequentiallyConsistent) { return }
            readers.decrement(stripe: stripe)
            waitForWriter()
        }
    }

    @inlinable @inline(__always)
    public func unlockShared(stripe: Int) {
        readers.decrement(stripe: stripe)
    }

    @usableFromInline
    func waitForWriter() {
        var spins = 0
        while writerActive.load(ordering: .acquiring) {
            spins += 1
            if spins < 100 { sched_yield() } else { usleep(20) }
        }
    }

    public func lockExclusive() {
        var spins = 0
        while !writerActive.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged {
            spins += 1
            if spins < 100 { sched_yield() } else { usleep(20) }
        }
        for stripe in 0..<ThreadStripe.count {
            while readers.stripe(stripe).pointee.load(ordering: .sequentiallyConsistent) != 0 {
                spins += 1
                if spins < 100 { sched_yield() } else { usleep(20) }
            }
        }
    }

    public func unlockExclusive() {
        writerActive.store(false, ordering: .releasing)
    }

    /// Runs `body` holding the lock shared.
    @inlinable @inline(__always)
    public func withSharedLock<T>(_ body: () throws -> T) rethrows -> T {
        let stripe = ThreadStripe.current()
        lockShared(stripe: stripe)
        defer { unlockShared(stripe: stripe) }
        return try body()
    }

    /// Runs `body` holding the lock exclusively.
    @inlinable @inline(__always)
    public func withExclusiveLock<T>(_ body: () throws -> T) rethrows -> T {
        lockExclusive()
        defer { unlockExclusive() }
        return try body()
    }
}
