#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Synchronization

/// Verified chunks kept in memory, keyed by physical chunk, shared by every reader and the writer.
///
/// A physical chunk's bytes never change while any snapshot can reach it (copy-on-write; a chunk
/// is reused only when no reader can see it, and `remove` drops it from the cache then), so a
/// cached chunk is immutable for as long as anyone may look it up.
///
/// - **Lookups take no lock**: a two-level array maps physical → frame, read with atomic loads.
///   The CLOCK bit lives in the same word (the frame pointer's low bit), so a hit touches no
///   other line, and a reader sets it only when it is clear (hot chunks such as the root are read
///   by every thread: their entry stays shared instead of bouncing between cores).
/// - **Misses and evictions** take the lock of one of up to 16 shards (by physical chunk), each
///   with its own CLOCK ring; the pread of the miss happens outside the lock.
/// - **An evicted frame is not reused at once**: a reader may still be reading it. It is retired
///   with the current cache epoch and recycled once every reader and the writer have entered the
///   cache at a later epoch (`ReaderTable`). So a reader holds any frame it found until it leaves,
///   without a reference count and without writing anything shared.
final class ChunkCache: @unchecked Sendable {
    let chunkSize: Int
    let capacity: Int
    let readers: ReaderTable
    /// Cache epoch: a reader or the writer enters the cache at the current value; a frame evicted
    /// at epoch E is recycled once every pinned epoch is above E.
    let epoch = Atomic<UInt64>(1)
    /// Lookups that found their chunk. Striped by thread: a hit takes no lock, and a shared
    /// counter would make readers on several cores fight over its cache line.
    let hits = StripedCounter()
    /// Shards live in raw memory (structs with an inline pthread mutex), so that a miss touches no
    /// reference count: readers on several cores would otherwise contend on a shard object's.
    private let shards: UnsafeMutablePointer<Shard>
    /// The shards' mutexes, one per 64 bytes, kept out of `Shard` so that taking one does not
    /// touch the struct another thread may be changing under it.
    private let mutexes: UnsafeMutableRawPointer
    private let shardCount: Int
    private let shardMask: Int
    private let index: FrameIndex
    /// The writer takes spare frames from the shards in turn.
    private var writerCursor = 0

    /// One part of the cache: a CLOCK ring of the physical chunks it holds, and the frames
    /// waiting to be recycled. Everything here is under the shard's mutex.
    private struct Shard {
        let capacity: Int
        var ring: [UInt32] = []
        var hand = 0
        /// Frames no one can hold any more, ready for the next miss (or the writer).
        var spare: [UnsafeMutableRawPointer] = []
        /// Evicted frames and the epoch they were evicted at.
        var retired: [RetiredFrame] = []
        var reclaimAt = Shard.reclaimBatch
        var misses = 0
        static let reclaimBatch = 32
        var spareLimit: Int { max(64, capacity / 8) }

        init(capacity: Int) { self.capacity = capacity }
    }

    init(chunkSize: Int, bytes: Int, readers: ReaderTable) {
        self.chunkSize = chunkSize
        self.readers = readers
        let capacity = max(16, bytes / chunkSize)
        self.capacity = capacity
        var count = 1
        while count < 16 && capacity / (count * 2) >= 256 { count *= 2 }
        let perShard = max(4, capacity / count)
        shards = .allocate(capacity: count)
        for position in 0..<count { (shards + position).initialize(to: Shard(capacity: perShard)) }
        mutexes = .allocate(byteCount: count * 64, alignment: 64)
        for position in 0..<count {
            let mutex = (mutexes + position * 64).bindMemory(to: pthread_mutex_t.self, capacity: 1)
            mutex.initialize(to: pthread_mutex_t())
            pthread_mutex_init(mutex, nil)
        }
        shardCount = count
        shardMask = count - 1
        index = FrameIndex()
    }

    deinit {
        for position in 0..<shardCount {
            let shard = shards + position
            for physical in shard.pointee.ring {
                if let frame = index.frame(physical) { ChunkFrame.deallocate(frame) }
            }
            for frame in shard.pointee.spare { ChunkFrame.deallocate(frame) }
            for entry in shard.pointee.retired { ChunkFrame.deallocate(entry.frame) }
            pthread_mutex_destroy(mutex(position))
        }
        shards.deinitialize(count: shardCount)
        shards.deallocate()
        mutexes.deallocate()
        index.deallocate()
    }

    @inline(__always)
    private func mutex(_ position: Int) -> UnsafeMutablePointer<pthread_mutex_t> {
        (mutexes + position * 64).assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// Locks the shard of `physical` and returns it.
    @inline(__always)
    private func lockShard(_ physical: UInt32) -> UnsafeMutablePointer<Shard> {
        lockShard(at: Int(physical) & shardMask)
    }

    @inline(__always)
    private func lockShard(at position: Int) -> UnsafeMutablePointer<Shard> {
        pthread_mutex_lock(mutex(position))
        return shards + position
    }

    @inline(__always)
    private func unlock(_ shard: UnsafeMutablePointer<Shard>) {
        pthread_mutex_unlock(mutex(shard - shards))
    }

    // MARK: Reading (any thread, inside a cache pin)

    /// The cached bytes of `physical`, or nil. Valid until the caller leaves the cache epoch it
    /// is in.
    @inline(__always)
    func lookup(_ physical: UInt32) -> UnsafeRawPointer? {
        guard let frame = index.hit(physical) else { return nil }
        hits.increment(stripe: ThreadStripe.current())
        return UnsafeRawPointer(frame)
    }

    /// A frame to read `physical` into on a miss (recycled, or new).
    func spareFrame(for physical: UInt32) -> UnsafeMutableRawPointer {
        let shard = lockShard(physical)
        shard.pointee.misses += 1
        let taken = takeSpare(shard)
        unlock(shard)
        return taken ?? ChunkFrame.allocate(chunkSize: chunkSize)
    }

    /// Gives back a frame from `spareFrame` that was not cached (the read failed).
    func returnSpare(_ frame: UnsafeMutableRawPointer, for physical: UInt32) {
        let shard = lockShard(physical)
        addSpare(shard, frame)
        unlock(shard)
    }

    /// Caches `frame`, just filled with the bytes of `physical` — or, if another thread cached
    /// `physical` meanwhile, keeps that copy and recycles `frame`. Returns the cached bytes.
    func insert(_ physical: UInt32, _ frame: UnsafeMutableRawPointer) -> UnsafeRawPointer {
        let shard = lockShard(physical)
        defer { unlock(shard) }
        if let existing = index.frame(physical) {
            addSpare(shard, frame)
            return UnsafeRawPointer(existing)
        }
        if let evicted = insert(shard, physical, frame) { retire(shard, evicted) }
        return UnsafeRawPointer(frame)
    }

    // MARK: Writer

    // The writer recycles the frames it takes out of the cache itself (`ChunkFile.displaced`):
    // they come back to it without passing through a shard, so a commit reuses the frames the
    // previous one freed.

    /// Caches `frame`, the bytes just written to `physical`; the cache owns the frame from now on.
    /// Returns the frame it displaced (evicted, or an older copy of `physical`), now out of the
    /// index but possibly still read by readers: the writer retires it.
    func adopt(_ physical: UInt32, _ frame: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        let shard = lockShard(physical)
        defer { unlock(shard) }
        // An older copy leaves the ring first, so the insert below has room and evicts nothing.
        let older = unlink(shard, physical)
        let evicted = insert(shard, physical, frame)
        return older ?? evicted
    }

    /// Forgets `physical` (it was released, or is about to be overwritten). Returns its frame,
    /// out of the index but possibly still read by readers: the writer retires it.
    @inline(__always)
    func remove(_ physical: UInt32) -> UnsafeMutableRawPointer? {
        guard index.frame(physical) != nil else { return nil }
        let shard = lockShard(physical)
        defer { unlock(shard) }
        return unlink(shard, physical)
    }

    /// Forgets every chunk (verification re-reads everything from disk).
    func removeAll() {
        for position in 0..<shardCount {
            let shard = lockShard(at: position)
            var frames: [UnsafeMutableRawPointer] = []
            for physical in shard.pointee.ring {
                if let frame = index.frame(physical) { frames.append(frame) }
                index.store(physical, nil)
            }
            for frame in frames { retire(shard, frame) }
            shard.pointee.ring.removeAll()
            shard.pointee.hand = 0
            unlock(shard)
        }
    }

    /// Moves recycled frames into the writer's `pool` (up to `wanted`), visiting two shards;
    /// returns how many it moved. Writer only.
    func takeSpares(into pool: inout [UnsafeMutableRawPointer], wanted: Int) -> Int {
        var moved = 0
        for _ in 0..<min(2, shardCount) {
            let shard = lockShard(at: writerCursor & shardMask)
            writerCursor &+= 1
            if shard.pointee.spare.count < wanted - moved && shard.pointee.retired.count >= Shard.reclaimBatch / 4 { reclaim(shard) }
            while moved < wanted, let frame = shard.pointee.spare.popLast() {
                pool.append(frame)
                moved += 1
            }
            unlock(shard)
            if moved >= wanted { break }
        }
        return moved
    }

    /// Misses so far, over all shards.
    var misses: Int {
        var total = 0
        for position in 0..<shardCount {
            let shard = lockShard(at: position)
            total += shard.pointee.misses
            unlock(shard)
        }
        return total
    }

    // MARK: Shard internals (called with the shard's lock held)

    /// Puts `frame` (holding `physical`, not cached) into the ring, evicting by CLOCK when the
    /// shard is full, and publishes it. Returns the evicted frame, out of the index now (the
    /// caller retires it).
    private func insert(_ shard: UnsafeMutablePointer<Shard>, _ physical: UInt32, _ frame: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        var evicted: UnsafeMutableRawPointer?
        if shard.pointee.ring.count < shard.pointee.capacity {
            index.setPosition(physical, shard.pointee.ring.count)
            shard.pointee.ring.append(physical)
        } else {
            while true {
                let hand = shard.pointee.hand
                let victim = shard.pointee.ring[hand]
                shard.pointee.hand = hand + 1 == shard.pointee.ring.count ? 0 : hand + 1
                if index.clearReferenced(victim) { continue }  // second chance
                evicted = index.frame(victim)
                index.store(victim, nil)
                index.setPosition(physical, hand)
                shard.pointee.ring[hand] = physical
                break
            }
        }
        // Publishes the filled frame, referenced (sequentially consistent: see `ReaderTable`).
        index.store(physical, frame)
        return evicted
    }

    /// Takes `physical`'s frame out of the index and the ring and returns it (to be retired).
    private func unlink(_ shard: UnsafeMutablePointer<Shard>, _ physical: UInt32) -> UnsafeMutableRawPointer? {
        guard let frame = index.frame(physical) else { return nil }
        index.store(physical, nil)
        let position = index.position(physical)
        let last = shard.pointee.ring.removeLast()
        if last != physical {
            shard.pointee.ring[position] = last
            index.setPosition(last, position)
        }
        if shard.pointee.hand >= shard.pointee.ring.count { shard.pointee.hand = 0 }
        return frame
    }

    /// `frame` is out of the index; readers that found it before may still read it.
    private func retire(_ shard: UnsafeMutablePointer<Shard>, _ frame: UnsafeMutableRawPointer) {
        // Read after the unlink: a reader that entered at a later epoch cannot have found it.
        shard.pointee.retired.append(RetiredFrame(frame: frame, epoch: epoch.load(ordering: .sequentiallyConsistent)))
        if shard.pointee.retired.count >= shard.pointee.reclaimAt {
            reclaim(shard)
            shard.pointee.reclaimAt = max(Shard.reclaimBatch, shard.pointee.retired.count * 2)
        }
    }

    /// Recycles the retired frames no one can hold: those evicted before the oldest epoch any
    /// reader (or the writer) is in. Advances the epoch first when the newest retired frame was
    /// evicted at the current one, so that readers entering from now on do not hold it.
    private func reclaim(_ shard: UnsafeMutablePointer<Shard>) {
        guard let newest = shard.pointee.retired.last else { return }
        if newest.epoch >= epoch.load(ordering: .sequentiallyConsistent) {
            epoch.add(1, ordering: .sequentiallyConsistent)
        }
        let oldest = readers.oldestCacheEpoch()
        var kept = 0
        for position in shard.pointee.retired.indices {
            let entry = shard.pointee.retired[position]
            if entry.epoch < oldest {
                addSpare(shard, entry.frame)
            } else {
                shard.pointee.retired[kept] = entry
                kept += 1
            }
        }
        shard.pointee.retired.removeLast(shard.pointee.retired.count - kept)
    }

    private func takeSpare(_ shard: UnsafeMutablePointer<Shard>) -> UnsafeMutableRawPointer? {
        if let frame = shard.pointee.spare.popLast() { return frame }
        if shard.pointee.retired.count >= Shard.reclaimBatch { reclaim(shard) }
        return shard.pointee.spare.popLast()
    }

    private func addSpare(_ shard: UnsafeMutablePointer<Shard>, _ frame: UnsafeMutableRawPointer) {
        if shard.pointee.spare.count < shard.pointee.spareLimit { shard.pointee.spare.append(frame) } else { ChunkFrame.deallocate(frame) }
    }
}

/// Physical chunk → cached frame: a two-level array (65,536 × 65,536 entries, second-level
/// arrays allocated as the file grows), so lookups never lock and the index never moves under a
/// reader. An entry is an atomic word: the frame's address (64-byte aligned) with bit 0 as the
/// CLOCK *referenced* bit, or 0. Beside each second-level array of entries sits a plain array of
/// ring positions, used only under the owning shard's lock.
private struct FrameIndex {
    static let leafBits = 16
    static let leafSize = 1 << leafBits
    static let referenced: UInt = 1
    let top: UnsafeMutablePointer<Atomic<UInt>>
    /// Taken to add a second-level array (a raw mutex: the struct holds no reference, so reading
    /// the index never touches a reference count).
    let growMutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        top = .allocate(capacity: 1 << (32 - Self.leafBits))
        for index in 0..<(1 << (32 - Self.leafBits)) { (top + index).initialize(to: Atomic(0)) }
        growMutex = .allocate(capacity: 1)
        growMutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(growMutex, nil)
    }

    func deallocate() {
        for index in 0..<(1 << (32 - Self.leafBits)) {
            if let leaf = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: top[index].load(ordering: .relaxed)) {
                leaf.deinitialize(count: Self.leafSize)
                UnsafeMutableRawPointer(leaf).deallocate()
            }
        }
        top.deinitialize(count: 1 << (32 - Self.leafBits))
        top.deallocate()
        pthread_mutex_destroy(growMutex)
        growMutex.deallocate()
    }

    @inline(__always)
    private func leaf(_ physical: UInt32) -> UnsafeMutablePointer<Atomic<UInt>>? {
        UnsafeMutablePointer<Atomic<UInt>>(bitPattern: top[Int(physical >> UInt32(Self.leafBits))].load(ordering: .acquiring))
    }

    /// A reader's lookup: the frame, after setting its referenced bit if it was clear (a
    /// compare-and-swap, so that an entry unlinked meanwhile is not brought back).
    @inline(__always)
    func hit(_ physical: UInt32) -> UnsafeMutableRawPointer? {
        guard let leaf = leaf(physical) else { return nil }
        let entry = leaf + (Int(physical) & (Self.leafSize - 1))
        let bits = entry.pointee.load(ordering: .sequentiallyConsistent)
        if bits & Self.referenced == 0 && bits != 0 {
            _ = entry.pointee.compareExchange(expected: bits, desired: bits | Self.referenced, ordering: .relaxed)
        }
        return UnsafeMutableRawPointer(bitPattern: bits & ~Self.referenced)
    }

    /// The frame of `physical`, without touching its referenced bit.
    @inline(__always)
    func frame(_ physical: UInt32) -> UnsafeMutableRawPointer? {
        guard let leaf = leaf(physical) else { return nil }
        let bits = leaf[Int(physical) & (Self.leafSize - 1)].load(ordering: .sequentiallyConsistent)
        return UnsafeMutableRawPointer(bitPattern: bits & ~Self.referenced)
    }

    /// The CLOCK hand passes `physical`: clears its referenced bit and returns whether it was set.
    /// (A reader setting it at the same moment may be lost: only a second chance is at stake.)
    func clearReferenced(_ physical: UInt32) -> Bool {
        guard let leaf = leaf(physical) else { return false }
        let entry = leaf + (Int(physical) & (Self.leafSize - 1))
        let bits = entry.pointee.load(ordering: .relaxed)
        guard bits & Self.referenced != 0 else { return false }
        _ = entry.pointee.compareExchange(expected: bits, desired: bits & ~Self.referenced, ordering: .relaxed)
        return true
    }

    /// Sets the entry of `physical` to `frame` (referenced) or empty. Called with its shard's
    /// lock held.
    func store(_ physical: UInt32, _ frame: UnsafeMutableRawPointer?) {
        let leaf: UnsafeMutablePointer<Atomic<UInt>>
        if let existing = self.leaf(physical) {
            leaf = existing
        } else {
            guard frame != nil else { return }
            leaf = grow(physical)
        }
        let bits = frame.map { UInt(bitPattern: $0) | Self.referenced } ?? 0
        leaf[Int(physical) & (Self.leafSize - 1)].store(bits, ordering: .sequentiallyConsistent)
    }

    /// Ring position of a cached `physical` (under its shard's lock).
    func position(_ physical: UInt32) -> Int {
        Int(positions(physical)[Int(physical) & (Self.leafSize - 1)])
    }

    func setPosition(_ physical: UInt32, _ position: Int) {
        if leaf(physical) == nil { _ = grow(physical) }
        positions(physical)[Int(physical) & (Self.leafSize - 1)] = UInt32(truncatingIfNeeded: position)
    }

    /// The positions array stored right after the entries of `physical`'s second-level array.
    private func positions(_ physical: UInt32) -> UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(leaf(physical)!).advanced(by: Self.leafSize * MemoryLayout<UInt>.stride)
            .assumingMemoryBound(to: UInt32.self)
    }

    /// Adds the second-level array (entries, then positions) that holds `physical`.
    private func grow(_ physical: UInt32) -> UnsafeMutablePointer<Atomic<UInt>> {
        let slot = Int(physical >> UInt32(Self.leafBits))
        pthread_mutex_lock(growMutex)
        defer { pthread_mutex_unlock(growMutex) }
        if let existing = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: top[slot].load(ordering: .acquiring)) { return existing }
        let bytes = Self.leafSize * (MemoryLayout<UInt>.stride + MemoryLayout<UInt32>.stride)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let fresh = raw.bindMemory(to: Atomic<UInt>.self, capacity: Self.leafSize)
        for index in 0..<Self.leafSize { (fresh + index).initialize(to: Atomic(0)) }
        (raw + Self.leafSize * MemoryLayout<UInt>.stride).initializeMemory(as: UInt32.self, repeating: 0, count: Self.leafSize)
        top[slot].store(UInt(bitPattern: fresh), ordering: .releasing)
        return fresh
    }
}
