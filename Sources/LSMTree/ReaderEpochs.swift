#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Synchronization

/// Epoch-based reclamation for the stores' read views, process-wide, so that a get takes its
/// view without writing to any memory another thread reads or writes: no lock and no shared
/// reference count, only two stores to a slot of its own thread.
///
/// Each thread that reads gets a slot (a cache line). A reader announces itself by storing the
/// current epoch in its slot, then loads the view pointer and reads through it unretained, then
/// stores zero. A store that replaces a view advances the epoch and keeps the old view until every
/// slot is idle or holds an epoch at least the advanced one: a reader that announced after the
/// advance loaded the new pointer, one that announced before may still hold the old view.
///
/// Scans announce, take a reference (an ordinary retain) and leave at once, so a long scan
/// holds back nothing but its own view. A thread without a slot (more than `slotCount` threads)
/// reads through the store's locked path.
final class ReaderEpochs: @unchecked Sendable {
    static let shared = ReaderEpochs()
    static let slotCount = 512
    /// Bytes per slot: one cache line, so slots of different threads never share one.
    static let slotStride = 64

    /// The current epoch; a slot holds 0 (idle) or the epoch its thread announced.
    private let epoch = Atomic<UInt64>(1)
    private let slots: UnsafeMutableRawPointer
    /// Slots handed out so far (the reclamation check scans only these).
    private let used = Atomic<Int>(0)
    private let freeLock = Lock()
    private var freeSlots: [Int] = []
    private var key = pthread_key_t()
    private let hasKey: Bool

    private init() {
        slots = .allocate(byteCount: Self.slotCount * Self.slotStride, alignment: Self.slotStride)
        for index in 0..<Self.slotCount {
            (slots + index * Self.slotStride).bindMemory(to: Atomic<UInt64>.self, capacity: 1).initialize(to: Atomic(0))
        }
        // The value kept per thread is its slot's address; a thread that ends gives it back.
        hasKey = pthread_key_create(&key, { value in
            guard let value else { return }
            ReaderEpochs.shared.giveBack(value)
        }) == 0
    }

    @inline(__always)
    private func slot(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (slots + index * Self.slotStride).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// The calling thread's slot, claimed on first use; `nil` when every slot is taken.
    @inline(__always)
    func currentSlot() -> UnsafeMutablePointer<Atomic<UInt64>>? {
        guard hasKey else { return nil }
        if let value = pthread_getspecific(key) { return value.assumingMemoryBound(to: Atomic<UInt64>.self) }
        return claim()
    }

    private func claim() -> UnsafeMutablePointer<Atomic<UInt64>>? {
        let index: Int? = freeLock.withLock {
            if let index = freeSlots.popLast() { return index }
            let next = used.load(ordering: .relaxed)
            guard next < Self.slotCount else { return nil }
            used.store(next + 1, ordering: .releasing)
            return next
        }
        guard let index else { return nil }
        let slot = slot(index)
        pthread_setspecific(key, UnsafeRawPointer(slot))
        return slot
    }

    private func giveBack(_ value: UnsafeMutableRawPointer) {
        let index = (value - slots) / Self.slotStride
        slot(index).pointee.store(0, ordering: .releasing)
        freeLock.withLock { freeSlots.append(index) }
    }

    /// Marks the thread as reading: views retired from now on wait for it.
    @inline(__always)
    func enter(_ slot: UnsafeMutablePointer<Atomic<UInt64>>) {
        slot.pointee.store(epoch.load(ordering: .relaxed), ordering: .sequentiallyConsistent)
    }

    @inline(__always)
    func leave(_ slot: UnsafeMutablePointer<Atomic<UInt64>>) {
        slot.pointee.store(0, ordering: .releasing)
    }

    /// Advances the epoch after a view was replaced; the old view is free once `isQuiescent`
    /// holds for the returned value.
    func advance() -> UInt64 {
        epoch.add(1, ordering: .sequentiallyConsistent).newValue
    }

    /// The oldest epoch a reader announced and is still reading under (`UInt64.max` when none):
    /// a view retired at an epoch at or below it is free.
    func oldestReader() -> UInt64 {
        var oldest = UInt64.max
        let count = used.load(ordering: .acquiring)
        for index in 0..<count {
            let announced = slot(index).pointee.load(ordering: .sequentiallyConsistent)
            if announced != 0 && announced < oldest { oldest = announced }
        }
        return oldest
    }
}
