#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Where readers announce what they may still be looking at, as in LMDB's reader table: a fixed
/// array of slots, one cache line each, so readers on different cores never write the same line.
///
/// Each slot holds two pins:
/// - the **txid** of the committed snapshot the reader started from (stored + 1; 0: slot free).
///   The writer reuses a physical chunk, a table page or a snapshot record retired by commit *C*
///   only when every pinned txid is ≥ *C* (`oldestTxid`).
/// - the **cache epoch** it entered with (0: none). The chunk cache recycles a buffer it evicted
///   at epoch *E* only when every pinned epoch is > *E* (`oldestCacheEpoch`). It is separate
///   from the txid so that a long scan, which keeps its snapshot, does not also keep every cache
///   buffer evicted meanwhile: it re-enters the cache epoch for each leaf it copies out.
///
/// Slot 0 belongs to the writer (cache epoch only: the writer never needs a snapshot pinned, it
/// is the one that retires). A reader claims a free slot with one compare-and-swap, starting at a
/// slot derived from its thread so that threads rarely try the same one, and frees it on leaving.
///
/// Ordering: a pin is a sequentially consistent store, and the writer (or cache) publishes its
/// change — a new snapshot, an unlinked cache entry — with sequentially consistent operations
/// before it scans the slots. So either the scan sees the pin, or the reader's later loads see
/// the change: a reader can never hold something the scan decided nobody holds.
final class ReaderTable: @unchecked Sendable {
    /// 64-bit words per slot: one 64-byte cache line.
    private static let stride = 8
    let slotCount: Int
    private let words: UnsafeMutablePointer<Atomic<UInt64>>

    /// - Parameter readerSlots: slots for readers (the writer's slot comes on top). More readers
    ///   than slots at one moment wait for a free one.
    init(readerSlots: Int) {
        slotCount = readerSlots + 1
        words = .allocate(capacity: slotCount * Self.stride)
        for index in 0..<(slotCount * Self.stride) { (words + index).initialize(to: Atomic(0)) }
        // The writer's slot is never free, so no reader claims it.
        words[0].store(.max, ordering: .relaxed)
    }

    deinit {
        words.deinitialize(count: slotCount * Self.stride)
        words.deallocate()
    }

    /// Slots for this machine: enough that readers rarely wait for one.
    static func defaultSlots() -> Int {
        let processors = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return min(256, max(32, 4 * processors))
    }

    @inline(__always)
    private func txidWord(_ slot: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { words + slot &* Self.stride }

    @inline(__always)
    private func epochWord(_ slot: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { words + (slot &* Self.stride &+ 1) }

    // MARK: Readers

    /// Claims a free slot pinning `txid` and `cacheEpoch`; returns the slot.
    @inline(__always)
    func pin(txid: UInt64, cacheEpoch: UInt64) -> Int {
        let readers = slotCount - 1
        var slot = 1 + Int(truncatingIfNeeded: Self.threadHash() % UInt(readers))
        var tries = 0
        while true {
            if txidWord(slot).pointee.compareExchange(expected: 0, desired: txid &+ 1, ordering: .sequentiallyConsistent).exchanged {
                epochWord(slot).pointee.store(cacheEpoch, ordering: .sequentiallyConsistent)
                return slot
            }
            slot = slot == readers ? 1 : slot + 1
            tries += 1
            if tries % readers == 0 { sched_yield() }  // every slot busy: wait for one
        }
    }

    /// Announces that the reader in `slot` is about to use the cache at `epoch` (again); buffers
    /// it took from the cache before are no longer protected.
    @inline(__always)
    func enterCache(_ slot: Int, epoch: UInt64) {
        epochWord(slot).pointee.store(epoch, ordering: .sequentiallyConsistent)
    }

    /// The reader in `slot` holds no cache buffer now.
    @inline(__always)
    func leaveCache(_ slot: Int) {
        epochWord(slot).pointee.store(0, ordering: .releasing)
    }

    /// Frees `slot`: its snapshot and its cache buffers may be reused.
    @inline(__always)
    func unpin(_ slot: Int) {
        epochWord(slot).pointee.store(0, ordering: .releasing)
        txidWord(slot).pointee.store(0, ordering: .releasing)
    }

    // MARK: Writer

    /// The writer's cache pin (slot 0).
    static let writerSlot = 0

    // MARK: Scans

    /// The oldest txid any reader has pinned, or `UInt64.max` when no reader is in.
    func oldestTxid() -> UInt64 {
        var oldest = UInt64.max
        for slot in 1..<slotCount {
            let pinned = txidWord(slot).pointee.load(ordering: .sequentiallyConsistent)
            if pinned != 0 && pinned &- 1 < oldest { oldest = pinned &- 1 }
        }
        return oldest
    }

    /// The oldest cache epoch any reader or the writer is in, or `UInt64.max` when none is.
    func oldestCacheEpoch() -> UInt64 {
        var oldest = UInt64.max
        for slot in 0..<slotCount {
            let pinned = epochWord(slot).pointee.load(ordering: .sequentiallyConsistent)
            if pinned != 0 && pinned < oldest { oldest = pinned }
        }
        return oldest
    }

    /// Readers holding a slot now.
    func activeReaders() -> Int {
        var count = 0
        for slot in 1..<slotCount where txidWord(slot).pointee.load(ordering: .sequentiallyConsistent) != 0 { count += 1 }
        return count
    }

    /// Waits until no reader holds a slot (yielding, then sleeping 1 ms at a time).
    func waitForReaders() {
        var rounds = 0
        while activeReaders() > 0 {
            rounds += 1
            if rounds < 100 { sched_yield() } else { usleep(1000) }
        }
    }

    /// A number that differs between threads, to spread their first tries over the slots.
    @inline(__always)
    private static func threadHash() -> UInt {
        let id = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
        return ((id >> 12) &* 0x9E37_79B9_7F4A_7C15) >> 32
    }
}
