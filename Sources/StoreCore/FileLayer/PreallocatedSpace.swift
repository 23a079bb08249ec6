import Synchronization

/// Keeps zero-filled, synced space ahead of the end of a file that is written front to back (a
/// log segment, a WAL), so that a commit overwrites blocks the file already has and its
/// `fdatasync` writes only the data.
///
/// Why zeros and not `fallocate`: an append that grows a file makes `fdatasync` journal the new
/// size too, and on ext4 (and XFS) a range reserved with `fallocate` is an *unwritten* extent
/// whose first write converts the extent, which is again metadata that `fdatasync` must journal.
/// Only bytes really written (and synced once, size included) make later overwrites cost one
/// data write each.
///
/// A background thread fills the next stretch while commits land before it; the space ahead
/// grows with the file (a quarter of `minimumLead` … `maximumLead`), so a small file stays small
/// and a large one is extended in large steps. A writer that overtakes the filled space waits for
/// a fill in progress or fills what it needs itself: its bytes never land where zeros are still
/// being written.
///
/// Readers of such a file stop at its first zero record header (FORMAT.md of each engine).
public final class PreallocatedSpace: @unchecked Sendable {
    public let file: DurableFile
    /// Space is never prepared past this offset (the size at which the writer moves to another
    /// file); `nil`: no bound.
    private let limit: Int?
    private let minimumLead: Int
    private let maximumLead: Int
    /// End of the zero-filled, synced space. Grows only when a fill completes.
    private let preparedEnd: Atomic<Int>
    private let lock = Lock()
    /// Guarded by `lock`.
    private var filling = false
    private var wantedEnd = 0
    private var failure: StoreError?
    private var thread: MaintenanceThread?

    /// Prepares the first stretch from `start` (the file's current end) before returning.
    public init(file: DurableFile, start: Int, limit: Int? = nil,
                minimumLead: Int = 64 << 10, maximumLead: Int = 4 << 20) throws(StoreError) {
        self.file = file
        self.limit = limit
        self.minimumLead = minimumLead
        self.maximumLead = max(minimumLead, maximumLead)
        preparedEnd = Atomic(start)
        let first = target(for: start)
        if first > start { try fill(from: start, to: first) }
        preparedEnd.store(first, ordering: .releasing)
        thread = MaintenanceThread { [weak self] in self?.fillWanted() }
    }

    deinit { thread?.stop() }

    /// Bytes up to here are zero-filled and durable.
    public var end: Int { preparedEnd.load(ordering: .acquiring) }

    /// Call before writing bytes up to `end`. Returns at once when the space is ready (and asks
    /// the background thread for more when little is left); otherwise waits for the fill in
    /// progress or fills the space itself.
    @inline(__always)
    public func prepare(through end: Int) throws(StoreError) {
        let prepared = preparedEnd.load(ordering: .acquiring)
        if end <= prepared {
            if prepared - end < lead(at: end) / 2 { requestFill(through: target(for: end)) }
            return
        }
        try prepareNow(through: end)
    }

    /// Stops the background thread, after any fill in progress. Call before the file is sealed,
    /// truncated to its written length or closed.
    public func finish() {
        thread?.stop()
        thread = nil
    }

    /// The file was cut back to `length` (after a failed write): space past it is no longer
    /// prepared.
    public func noteTruncated(to length: Int) {
        lock.withLock {
            while filling { lock.wait() }
            if preparedEnd.load(ordering: .relaxed) > length { preparedEnd.store(length, ordering: .releasing) }
        }
    }

    // MARK: Filling

    /// Space ahead of `end`: grows with the file, so fills are few and large once it is large.
    private func lead(at end: Int) -> Int {
        min(maximumLead, max(minimumLead, end / 2))
    }

    /// Where to prepare up to when the writer is at `end`: a whole number of 4 KiB pages, bounded
    /// by `limit` (but never short of `end`).
    private func target(for end: Int) -> Int {
        var wanted = (end + lead(at: end) + 4095) & ~4095
        if let limit { wanted = max(end, min(wanted, limit)) }
        return wanted
    }

    private func requestFill(through wanted: Int) {
        let wake = lock.withLock { () -> Bool in
            guard wanted > wantedEnd else { return false }
            wantedEnd = wanted
            return !filling
        }
        if wake { thread?.wake() }
    }

    /// The background thread's body.
    private func fillWanted() {
        lock.lock()
        let from = preparedEnd.load(ordering: .relaxed)
        let to = wantedEnd
        guard !filling, failure == nil, to > from else {
            lock.unlock()
            return
        }
        filling = true
        lock.unlock()
        var failed: StoreError?
        do { try fill(from: from, to: to) } catch { failed = error }
        lock.withLock {
            if let failed { failure = failed } else { preparedEnd.store(to, ordering: .releasing) }
            filling = false
            lock.broadcast()
        }
    }

    /// The writer overtook the prepared space: wait for a fill in progress, then fill what is
    /// still missing on this thread.
    private func prepareNow(through end: Int) throws(StoreError) {
        lock.lock()
        defer { lock.unlock() }
        while filling { lock.wait() }
        let prepared = preparedEnd.load(ordering: .relaxed)
        guard end > prepared else { return }
        // Past the bound the writer is about to move on: let the write grow the file.
        if let limit, end > limit { return }
        // A background failure is retried here, where the writer can report it.
        failure = nil
        let to = max(target(for: end), end)
        try fill(from: prepared, to: to)
        preparedEnd.store(to, ordering: .releasing)
    }

    private static let zeros = [UInt8](repeating: 0, count: 1 << 20)

    /// Writes zeros over `from ..< to` and syncs them (with the new size) once.
    private func fill(from: Int, to: Int) throws(StoreError) {
        var offset = from
        while offset < to {
            let count = min(Self.zeros.count, to - offset)
            var failure: StoreError?
            Self.zeros.withUnsafeBytes { zeros in
                do throws(StoreError) {
                    try file.write(UnsafeRawBufferPointer(rebasing: zeros[..<count]), at: Int64(offset))
                } catch { failure = error }
            }
            if let failure { throw failure }
            offset += count
        }
        try file.syncData()
    }
}
