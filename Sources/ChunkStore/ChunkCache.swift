import StoreCore
import Synchronization

/// Verified chunks kept in memory, keyed by physical chunk, shared by every reader and the writer.
///
/// A physical chunk's bytes never change while any snapshot can reach it (copy-on-write; a chunk
/// is reused only when no reader can see it, and `remove` drops it from the cache then), so a
/// cached chunk is immutable for as long as anyone may look it up.
///
/// - **Lookups take no lock**: a two-level array maps physical → frame, read with atomic loads;
///   a hit sets the frame's CLOCK bit only if it is clear (hot chunks such as the root are read
///   by every thread: their cache line stays shared instead of bouncing between cores).
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
    private let shards: [Shard]
    private let shardMask: Int
    private let index: FrameIndex
    /// The writer takes spare frames from the shards in turn.
    private var writerCursor = 0

    /// One part of the cache: a CLOCK ring of frames and the frames waiting to be recycled.
    private final class Shard {
        let lock = Lock()
        let capacity: Int
        var ring: [UnsafeMutableRawPointer] = []
        var hand = 0
        /// Frames no one can hold any more, ready for the next miss (or the writer).
        var spare: [UnsafeMutableRawPointer] = []
        /// Evicted frames and the epoch they were evicted at.
        var retired: [(frame: UnsafeMutableRawPointer, epoch: UInt64)] = []
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
        shards = (0..<count).map { _ in Shard(capacity: perShard) }
        shardMask = count - 1
        index = FrameIndex()
    }

    deinit {
        for shard in shards {
            for frame in shard.ring { ChunkFrame.deallocate(frame) }
            for frame in shard.spare { ChunkFrame.deallocate(frame) }
            for (frame, _) in shard.retired { ChunkFrame.deallocate(frame) }
        }
        index.deallocate()
    }

    @inline(__always)
    private func shard(_ physical: UInt32) -> Shard { shards[Int(physical) & shardMask] }

    // MARK: Reading (any thread, inside a cache pin)

    /// The cached bytes of `physical`, or nil. Valid until the caller leaves the cache epoch it
    /// is in.
    @inline(__always)
    func lookup(_ physical: UInt32) -> UnsafeRawPointer? {
        guard let frame = index.load(physical) else { return nil }
        let flag = ChunkFrame.referenced(frame)
        if flag.pointee.load(ordering: .relaxed) == 0 { flag.pointee.store(1, ordering: .relaxed) }
        return UnsafeRawPointer(frame)
    }

    /// Reads `physical` with `read` into a frame and caches it (or, if another thread cached it
    /// meanwhile, returns that copy). `read` runs without any lock held.
    func fill(_ physical: UInt32, _ read: (UnsafeMutableRawPointer) throws(StoreError) -> Void) throws(StoreError) -> UnsafeRawPointer {
        let shard = shard(physical)
        shard.lock.lock()
        shard.misses += 1
        let taken = takeSpare(shard)
        shard.lock.unlock()
        let frame = taken ?? ChunkFrame.allocate(chunkSize: chunkSize)
        do {
            try read(frame)
        } catch {
            shard.lock.lock()
            addSpare(shard, frame)
            shard.lock.unlock()
            throw error
        }
        shard.lock.lock()
        defer { shard.lock.unlock() }
        if let existing = index.load(physical) {
            addSpare(shard, frame)
            return UnsafeRawPointer(existing)
        }
        _ = insert(shard, physical, frame, retiring: true)
        return UnsafeRawPointer(frame)
    }

    // MARK: Writer

    // The writer recycles the frames it displaces itself (`WriterFrames`): they come back to it
    // without passing through a shard, so a commit reuses the frames the previous one freed.

    /// Caches `frame`, the bytes just written to `physical`; the cache owns the frame from now on.
    /// Returns the frame it displaced (evicted, or an older copy of `physical`), now out of the
    /// index but possibly still read by readers: the writer retires it.
    func adopt(_ physical: UInt32, _ frame: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        let shard = shard(physical)
        shard.lock.lock()
        defer { shard.lock.unlock() }
        let older = index.load(physical) != nil ? unlink(shard, physical) : nil
        let evicted = insert(shard, physical, frame, retiring: false)
        if let older, let evicted { retire(shard, evicted); return older }
        return older ?? evicted
    }

    /// Forgets `physical` (it was released, or is about to be overwritten). Returns its frame,
    /// out of the index but possibly still read by readers: the writer retires it.
    @inline(__always)
    func remove(_ physical: UInt32) -> UnsafeMutableRawPointer? {
        guard index.load(physical) != nil else { return nil }
        let shard = shard(physical)
        shard.lock.lock()
        defer { shard.lock.unlock() }
        return unlink(shard, physical)
    }

    /// Forgets every chunk (verification re-reads everything from disk).
    func removeAll() {
        for shard in shards {
            shard.lock.lock()
            for frame in shard.ring {
                index.store(ChunkFrame.owner(frame), nil)
            }
            for frame in shard.ring { retire(shard, frame) }
            shard.ring.removeAll()
            shard.hand = 0
            shard.lock.unlock()
        }
    }

    /// Moves recycled frames into the writer's `pool` (up to `wanted`), visiting two shards;
    /// returns how many it moved. Writer only.
    func takeSpares(into pool: inout [UnsafeMutableRawPointer], wanted: Int) -> Int {
        var moved = 0
        for _ in 0..<min(2, shards.count) {
            let shard = shards[writerCursor & shardMask]
            writerCursor &+= 1
            shard.lock.lock()
            if shard.spare.count < wanted - moved && shard.retired.count >= Shard.reclaimBatch / 4 { reclaim(shard) }
            while moved < wanted, let frame = shard.spare.popLast() {
                pool.append(frame)
                moved += 1
            }
            shard.lock.unlock()
            if moved >= wanted { break }
        }
        return moved
    }

    /// Misses so far, over all shards.
    var misses: Int {
        shards.reduce(0) { total, shard in total + shard.lock.withLock { shard.misses } }
    }

    /// Frames held now (cached, retired and spare), for tests.
    var framesHeld: (cached: Int, retired: Int, spare: Int) {
        shards.reduce((0, 0, 0)) { total, shard in
            shard.lock.withLock { (total.0 + shard.ring.count, total.1 + shard.retired.count, total.2 + shard.spare.count) }
        }
    }

    // MARK: Shard internals (called with the shard's lock held)

    /// Puts `frame` (holding `physical`, not cached yet) into the ring, evicting by CLOCK when
    /// the shard is full, and publishes it. The evicted frame is retired here when `retiring`,
    /// else returned (the writer retires it).
    private func insert(_ shard: Shard, _ physical: UInt32, _ frame: UnsafeMutableRawPointer, retiring: Bool) -> UnsafeMutableRawPointer? {
        ChunkFrame.setOwner(frame, physical)
        ChunkFrame.referenced(frame).pointee.store(1, ordering: .relaxed)
        var evicted: UnsafeMutableRawPointer?
        if shard.ring.count < shard.capacity {
            ChunkFrame.setPosition(frame, shard.ring.count)
            shard.ring.append(frame)
        } else {
            while true {
                let victim = shard.ring[shard.hand]
                let flag = ChunkFrame.referenced(victim)
                if flag.pointee.load(ordering: .relaxed) != 0 {
                    flag.pointee.store(0, ordering: .relaxed)
                    shard.hand = shard.hand + 1 == shard.ring.count ? 0 : shard.hand + 1
                    continue
                }
                index.store(ChunkFrame.owner(victim), nil)
                ChunkFrame.setPosition(frame, shard.hand)
                shard.ring[shard.hand] = frame
                shard.hand = shard.hand + 1 == shard.ring.count ? 0 : shard.hand + 1
                evicted = victim
                break
            }
        }
        // Publishes the filled frame (sequentially consistent: see `ReaderTable`).
        index.store(physical, frame)
        if retiring, let evicted {
            retire(shard, evicted)
            return nil
        }
        return evicted
    }

    /// Takes `physical`'s frame out of the index and the ring and returns it (to be retired).
    private func unlink(_ shard: Shard, _ physical: UInt32) -> UnsafeMutableRawPointer? {
        guard let frame = index.load(physical) else { return nil }
        index.store(physical, nil)
        let position = ChunkFrame.position(frame)
        let last = shard.ring.removeLast()
        if last != frame {
            shard.ring[position] = last
            ChunkFrame.setPosition(last, position)
        }
        if shard.hand >= shard.ring.count { shard.hand = 0 }
        return frame
    }

    /// `frame` is out of the index; readers that found it before may still read it.
    private func retire(_ shard: Shard, _ frame: UnsafeMutableRawPointer) {
        // Read after the unlink: a reader that entered at a later epoch cannot have found it.
        shard.retired.append((frame, epoch.load(ordering: .sequentiallyConsistent)))
        if shard.retired.count >= shard.reclaimAt {
            reclaim(shard)
            shard.reclaimAt = max(Shard.reclaimBatch, shard.retired.count * 2)
        }
    }

    /// Recycles the retired frames no one can hold: those evicted before the oldest epoch any
    /// reader (or the writer) is in. Advances the epoch first when the newest retired frame was
    /// evicted at the current one, so that readers entering from now on do not hold it.
    private func reclaim(_ shard: Shard) {
        guard let newest = shard.retired.last else { return }
        if newest.epoch >= epoch.load(ordering: .sequentiallyConsistent) {
            epoch.add(1, ordering: .sequentiallyConsistent)
        }
        let oldest = readers.oldestCacheEpoch()
        var kept = 0
        for position in shard.retired.indices {
            let entry = shard.retired[position]
            if entry.epoch < oldest {
                addSpare(shard, entry.frame)
            } else {
                shard.retired[kept] = entry
                kept += 1
            }
        }
        shard.retired.removeLast(shard.retired.count - kept)
    }

    private func takeSpare(_ shard: Shard) -> UnsafeMutableRawPointer? {
        if let frame = shard.spare.popLast() { return frame }
        if shard.retired.count >= Shard.reclaimBatch { reclaim(shard) }
        return shard.spare.popLast()
    }

    private func addSpare(_ shard: Shard, _ frame: UnsafeMutableRawPointer) {
        if shard.spare.count < shard.spareLimit { shard.spare.append(frame) } else { ChunkFrame.deallocate(frame) }
    }
}

/// Physical chunk → cached frame: a two-level array of atomic words (65,536 × 65,536 entries,
/// second-level arrays allocated as the file grows), so lookups never lock and the index never
/// moves under a reader.
private struct FrameIndex {
    static let leafBits = 16
    static let leafSize = 1 << leafBits
    let top: UnsafeMutablePointer<Atomic<UInt>>
    let growLock = Lock()

    init() {
        top = .allocate(capacity: 1 << (32 - Self.leafBits))
        for index in 0..<(1 << (32 - Self.leafBits)) { (top + index).initialize(to: Atomic(0)) }
    }

    func deallocate() {
        for index in 0..<(1 << (32 - Self.leafBits)) {
            if let leaf = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: top[index].load(ordering: .relaxed)) {
                leaf.deinitialize(count: Self.leafSize)
                leaf.deallocate()
            }
        }
        top.deinitialize(count: 1 << (32 - Self.leafBits))
        top.deallocate()
    }

    @inline(__always)
    func load(_ physical: UInt32) -> UnsafeMutableRawPointer? {
        guard let leaf = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: top[Int(physical >> UInt32(Self.leafBits))].load(ordering: .acquiring)) else {
            return nil
        }
        return UnsafeMutableRawPointer(bitPattern: leaf[Int(physical) & (Self.leafSize - 1)].load(ordering: .sequentiallyConsistent))
    }

    /// Sets the entry of `physical` (called with its shard's lock held).
    func store(_ physical: UInt32, _ frame: UnsafeMutableRawPointer?) {
        let slot = Int(physical >> UInt32(Self.leafBits))
        var leaf = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: top[slot].load(ordering: .acquiring))
        if leaf == nil {
            guard frame != nil else { return }
            leaf = growLock.withLock {
                if let existing = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: top[slot].load(ordering: .acquiring)) { return existing }
                let fresh = UnsafeMutablePointer<Atomic<UInt>>.allocate(capacity: Self.leafSize)
                for index in 0..<Self.leafSize { (fresh + index).initialize(to: Atomic(0)) }
                top[slot].store(UInt(bitPattern: fresh), ordering: .releasing)
                return fresh
            }
        }
        leaf![Int(physical) & (Self.leafSize - 1)].store(UInt(bitPattern: frame), ordering: .sequentiallyConsistent)
    }
}
