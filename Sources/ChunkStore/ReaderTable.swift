#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Where readers announce what they may still be looking at, as in LMDB's reader table: a fixed
/// array of slots, 128 bytes each and aligned to that (two cache lines: the adjacent-line
/// prefetcher pairs lines), so readers on different cores never write the same line.
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
/// Threads start among the first few slots (two per processor), so scans stop early: they cover
/// only the slots up to the highest one ever claimed.
///
/// Ordering: a pin is a sequentially consistent store, and the writer (or cache) publishes its
/// change — a new snapshot, an unlinked cache entry — with sequentially consistent operations
/// before it scans the slots. So either the scan sees the pin, or the reader's later loads see
/// the change: a reader can never hold something the scan decided nobody holds.
final class ReaderTable: @unchecked Sendable {
    /// 64-bit words per slot: 128 bytes.
    private static let stride = 16
    let slotCount: Int
    /// Reader slots a thread starts its search in.
    private let preferredSlots: Int
    /// One past the highest slot ever claimed: scans stop there.
    private let slotsInUse = Atomic<Int>(1)
    private let words: UnsafeMutablePointer<Atomic<UInt64>>

    /// - Parameter readerSlots: slots for readers (the writer's slot comes on top). More readers
    ///   than slots at one moment wait for a free one.
    init(readerSlots: Int) {
        slotCount = readerSlots + 1
        let processors = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        preferredSlots = min(readerSlots, max(4, 2 * processors))
        words = UnsafeMutableRawPointer.allocate(byteCount: slotCount * Self.stride * 8, alignment: 128)
            .bindMemory(to: Atomic<UInt64>.self, capacity: slotCount * Self.stride)
        for index in 0..<(slotCount * Self.stride) { (words + index).initialize(to: Atomic(0)) }
        // The writer's slot is never free, so no reader claims it.
        words[0].store(.max, ordering: .relaxed)
    }

    deinit {
        words.deinitialize(count: slotCount * Self.stride)
        UnsafeMutableRawPointer(words).deallocate()
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
        var slot = 1 + Int(truncatingIfNeeded: Self.threadHash() % UInt(preferredSlots))
        var tries = 0
        while true {
            // Scans must cover the slot before it can hold a pin.
            if slot >= slotsInUse.load(ordering: .sequentiallyConsistent) { noteClaimed(slot) }
            if txidWord(slot).pointee.compareExchange(expected: 0, desired: txid &+ 1, ordering: .sequentiallyConsistent).exchanged {
                epochWord(slot).pointee.store(cacheEpoch, ordering: .sequentiallyConsistent)
                return slot
            }
            slot = slot == readers ? 1 : slot + 1
            tries += 1
            if tries % readers == 0 { sched_yield() }  // every slot busy: wait for one
        }
    }

    /// Raises `slotsInUse` past `slot` (rare: the first time a slot that high is tried), before
    /// the slot is claimed: a scan that read the old bound preceded the raise, so the reader's
    /// loads come after whatever that scan's writer published.
    private func noteClaimed(_ slot: Int) {
        var current = slotsInUse.load(ordering: .relaxed)
        while current <= slot {
            let (exchanged, found) = slotsInUse.compareExchange(expected: current, desired: slot + 1, ordering: .sequentiallyConsistent)
            if exchanged { return }
            current = found
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

    /// In one pass: the oldest txid any reader has pinned and the oldest cache epoch any reader
    /// or the writer is in (`UInt64.max` where none is).
    func oldest() -> (txid: UInt64, cacheEpoch: UInt64) {
        var txid = UInt64.max
        var epoch = UInt64.max
        for slot in 0..<slotsInUse.load(ordering: .sequentiallyConsistent) {
            let pinnedEpoch = epochWord(slot).pointee.load(ordering: .sequentiallyConsistent)
            if pinnedEpoch != 0 && pinnedEpoch < epoch { epoch = pinnedEpoch }
            guard slot > 0 else { continue }
            let pinned = txidWord(slot).pointee.load(ordering: .sequentiallyConsistent)
            if pinned != 0 && pinned &- 1 < txid { txid = pinned &- 1 }
        }
        return (txid, epoch)
    }

    /// The oldest txid any reader has pinned, or `UInt64.max` when no reader is in.
    func oldestTxid() -> UInt64 {
        var oldest = UInt64.max
        for slot in 1..<slotsInUse.load(ordering: .sequentiallyConsistent) {
            let pinned = txidWord(slot).pointee.load(ordering: .sequentiallyConsistent)
            if pinned != 0 && pinned &- 1 < oldest { oldest = pinned &- 1 }
        }
        return oldest
    }

    /// The oldest cache epoch any reader or the writer is in, or `UInt64.max` when none is.
    func oldestCacheEpoch() -> UInt64 {
        var oldest = UInt64.max
        for slot in 0..<slotsInUse.load(ordering: .sequentiallyConsistent) {
            let pinned = epochWord(slot).pointee.load(ordering: .sequentiallyConsistent)
            if pinned != 0 && pinned < oldest { oldest = pinned }
        }
        return oldest
    }

    /// Readers holding a slot now.
    func activeReaders() -> Int {
        var count = 0
        for slot in 1..<slotsInUse.load(ordering: .sequentiallyConsistent) where txidWord(slot).pointee.load(ordering: .sequentiallyConsistent) != 0 {
            count += 1
        }
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
