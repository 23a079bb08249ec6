#if canImport(Glibc)
import Glibc
#endif
import StoreCore
import Synchronization

/// A read-only shared mapping of the chunk file, for readers (`read_path=mapped`), with a bitmap
/// of the physical chunks whose checksum has been checked since open.
///
/// - **One mapping for the store's life**, reserved far larger than the file (as LMDB's
///   mapsize): the file grows under it without a remap, so a pointer a reader holds never moves.
///   Only chunks below `limit` — bytes the file is known to hold — are read through it (touching
///   a page past the end of the file would raise SIGBUS); others go to the cached path.
/// - **Verified bits**: a chunk's CRC-32C is checked the first time it is read through the mapping
///   and its bit set (lock-free: one atomic OR). The writer clears the bit when it hands the
///   physical chunk out to be written again, and sets it after writing it from a buffer it
///   checksummed itself. No reader can reach a chunk between those two points (it is free), so a
///   set bit always describes the bytes a reader's snapshot names.
final class MappedChunks: @unchecked Sendable {
    let base: UnsafeRawPointer
    let chunkSize: Int
    private let chunkShift: Int
    /// Bytes reserved.
    let reserved: Int
    /// Physical chunks the reservation covers.
    let capacity: UInt64
    /// Chunks the file is known to hold: readers map only below this.
    private let limitChunks = Atomic<UInt64>(0)
    private let bits: UnsafeMutablePointer<Atomic<UInt64>>
    private let wordCount: Int

    /// The smallest reservation (16 GiB): the file may grow to this before chunks past it fall
    /// back to the cached path.
    static let minimumReservation = 16 << 30

    /// Maps `path` read-only, reserving room for at least four times `fileBytes`. Nil when the
    /// file cannot be opened or mapped (the caller reads through the cache instead).
    init?(path: String, chunkSize: Int, fileBytes: Int64) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }  // the mapping keeps the file
        let addressable = (Int(UInt32.max) + 1) * chunkSize  // a physical chunk number is a u32
        var wanted = Self.minimumReservation
        while wanted < Int(fileBytes) * 4 && wanted < addressable { wanted <<= 1 }
        wanted = min(wanted, addressable)
        guard let mapping = mmap(nil, wanted, PROT_READ, MAP_SHARED, fd, 0), mapping != MAP_FAILED else { return nil }
        // No readahead around a fault: chunks are read at random (as the file's POSIX_FADV_RANDOM).
        _ = madvise(mapping, wanted, MADV_RANDOM)
        base = UnsafeRawPointer(mapping)
        self.chunkSize = chunkSize
        chunkShift = chunkSize.trailingZeroBitCount
        reserved = wanted
        capacity = UInt64(wanted / chunkSize)
        wordCount = Int((capacity + 63) / 64)
        // Anonymous zero pages: an open pays only for the words it touches (the bitmap covers
        // the whole reservation — 512 KiB at 4 KiB chunks, 4 MiB at 512 B — most never used),
        // and a zero word is an atomic holding 0.
        guard let words = mmap(nil, wordCount * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              words != MAP_FAILED
        else {
            munmap(mapping, wanted)
            return nil
        }
        bits = words.bindMemory(to: Atomic<UInt64>.self, capacity: wordCount)
        limitChunks.store(min(capacity, UInt64(fileBytes) / UInt64(chunkSize)), ordering: .sequentiallyConsistent)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), reserved)
        munmap(UnsafeMutableRawPointer(bits), wordCount * 8)
    }

    /// Whether `physical` can be read through the mapping (it lies inside the file and the
    /// reservation).
    @inline(__always)
    func contains(_ physical: UInt32) -> Bool {
        UInt64(physical) < limitChunks.load(ordering: .acquiring)
    }

    @inline(__always)
    func address(_ physical: UInt32) -> UnsafeRawPointer {
        base + (Int(physical) << chunkShift)
    }

    @inline(__always)
    func isVerified(_ physical: UInt32) -> Bool {
        bits[Int(physical >> 6)].load(ordering: .acquiring) & (1 << UInt64(physical & 63)) != 0
    }

    @inline(__always)
    func markVerified(_ physical: UInt32) {
        guard UInt64(physical) < capacity else { return }
        bits[Int(physical >> 6)].bitwiseOr(1 << UInt64(physical & 63), ordering: .releasing)
    }

    /// The writer is about to write `physical` again (no reader can reach it now).
    @inline(__always)
    func clearVerified(_ physical: UInt32) {
        guard UInt64(physical) < capacity else { return }
        let mask: UInt64 = 1 << UInt64(physical & 63)
        // Most chunks handed out were never read since they were last written: skip the RMW.
        if bits[Int(physical >> 6)].load(ordering: .relaxed) & mask != 0 {
            bits[Int(physical >> 6)].bitwiseAnd(~mask, ordering: .releasing)
        }
    }

    /// Every chunk is checked again on its next read (verification).
    func clearAllVerified() {
        for index in 0..<wordCount { bits[index].store(0, ordering: .releasing) }
    }

    /// The file now holds `count` chunks or more (the writer wrote up to there; before publishing).
    func fileHolds(atLeast count: UInt64) {
        let capped = min(count, capacity)
        if capped > limitChunks.load(ordering: .relaxed) { limitChunks.store(capped, ordering: .sequentiallyConsistent) }
    }

    /// The file was cut to `count` chunks (no reader can reach a chunk past that).
    func fileCut(to count: UInt64) {
        limitChunks.store(min(count, capacity), ordering: .sequentiallyConsistent)
    }
}
