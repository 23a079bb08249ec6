import StoreCore

/// Where a key's current record lives: 12 bytes per key in the keydir.
struct Location: Equatable {
    /// Slot of the segment in the store's segment table.
    var segment: UInt32
    var offset: UInt32
    /// Whole record length (header, key, value).
    var length: UInt32
}

/// One segment file and its accounting. Bytes of a segment are live (the keydir points at the
/// record) or dead (overwritten, deleted, tombstones, commit records).
///
/// Lifetime: a reader *pins* a segment while it preads from it. A pin is taken only holding the
/// store's `stateLock` (shared is enough) while the segment is in the segment table, so once
/// compaction has taken a segment out of the table (under the exclusive lock) its pin count only
/// falls; `waitUntilUnpinned()` then returns once no reader can still read it, and only after that
/// is its file closed and unlinked (a reused descriptor would hand a reader another file's bytes).
/// The count is striped by thread, so readers on different cores pinning the same segment do not
/// contend on one cache line.
///
/// Lock discipline (see `AppendLogStore`): `size` changes holding `writeLock` and `stateLock`
/// exclusively, and is read holding either; the accounting fields follow `stateLock`;
/// `needsSync` follows `writeLock`; `hasHint` follows `maintenanceLock`.
final class Segment: @unchecked Sendable {
    let id: UInt64
    let slot: UInt32
    let file: DurableFile
    /// Bytes in the file.
    var size: Int
    /// Bytes of records the keydir points at.
    var liveBytes = 0
    /// Put and delete records (commit records not counted).
    var records = 0
    /// Records no longer current: overwritten or deleted puts, and tombstones.
    var deadRecords = 0
    /// Bytes of delete records, which a merge may have to keep.
    var tombstoneBytes = 0
    /// Whether `<id>.hint` describes this segment (written when it was sealed, compacted or
    /// closed).
    var hasHint = false
    /// Holds commits written since the file was last synced (durability `interval` or `none`).
    var needsSync = false
    /// The active segment's zero-filled space ahead of its end (setting `preallocate`); `nil`
    /// once sealed. Follows `writeLock`.
    var space: PreallocatedSpace?
    /// Readers (and syncs) using the file now.
    private let pins = StripedCounter()

    init(id: UInt64, slot: UInt32, file: DurableFile, size: Int) {
        self.id = id
        self.slot = slot
        self.file = file
        self.size = size
    }

    /// Ends the active segment's preallocation: stops its filler and cuts the zeros past the last
    /// commit, so the file's length is its records' again (hints, merges and older readers rely
    /// on that) — with an fsync, since that length is metadata. Call holding `writeLock`, or
    /// when no writer can run.
    func cutPreallocatedSpace() throws(StoreError) {
        guard let space else { return }
        space.finish()
        self.space = nil
        try file.truncate(to: Int64(size))
        try file.sync()
    }

    var deadBytes: Int { size - liveBytes }
    /// Dead bytes a merge can certainly drop (tombstones may have to stay).
    var reclaimableBytes: Int { size - liveBytes - tombstoneBytes }

    /// Keeps the file open until `unpin(stripe:)` with the same stripe (the calling thread's,
    /// `ThreadStripe.current()`). Call holding `stateLock` while the segment is in the table.
    @inline(__always)
    func pin(stripe: Int) {
        pins.increment(stripe: stripe)
    }

    /// Ends a pin; the reads made under it happen before the file is closed.
    @inline(__always)
    func unpin(stripe: Int) {
        pins.decrement(stripe: stripe)
    }

    /// Waits until no reader holds a pin. Call after taking the segment out of the table, so no
    /// new pin can come; readers hold a pin for one pread, so this is short.
    func waitUntilUnpinned() {
        pins.waitUntilZero()
    }

    static func fileName(_ id: UInt64) -> String { hexName(id) + ".log" }
    static func hintName(_ id: UInt64) -> String { hexName(id) + ".hint" }

    /// Ids of the segments the store starts are multiples of this; compaction output takes the ids
    /// just above the highest segment it merged (FORMAT.md).
    static let idBlock: UInt64 = 1 << 16

    /// The id in a segment or hint file name, or `nil` for other names.
    static func id(fromName name: String, suffix: String) -> UInt64? {
        guard name.hasSuffix(suffix) else { return nil }
        let stem = name.dropLast(suffix.count)
        guard stem.count == 16 else { return nil }
        return UInt64(stem, radix: 16)
    }

    private static func hexName(_ id: UInt64) -> String {
        let digits = String(id, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
