import Synchronization

/// A chunk-sized buffer with a 64-byte header in front of it. Every buffer that may end up in the
/// chunk cache is a frame (working copies become cached chunks by being written, without a copy).
/// Code passes the pointer to the chunk bytes; the header sits just before them:
///
///     -64  referenced flag (Atomic<UInt32>, set by readers on a hit, cleared by the CLOCK hand)
///     -56  physical chunk the frame caches (u32; only under its cache shard's lock)
///     -52  position in the shard's CLOCK ring (u32; only under the shard's lock)
enum ChunkFrame {
    static let headerSize = 64

    static func allocate(chunkSize: Int) -> UnsafeMutableRawPointer {
        let base = UnsafeMutableRawPointer.allocate(byteCount: headerSize + chunkSize, alignment: 64)
        base.bindMemory(to: Atomic<UInt32>.self, capacity: 1).initialize(to: Atomic(0))
        return base + headerSize
    }

    static func deallocate(_ bytes: UnsafeMutableRawPointer) {
        (bytes - headerSize).deallocate()
    }

    @inline(__always)
    static func referenced(_ bytes: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (bytes - headerSize).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always)
    static func owner(_ bytes: UnsafeMutableRawPointer) -> UInt32 {
        (bytes - 56).load(as: UInt32.self)
    }

    @inline(__always)
    static func setOwner(_ bytes: UnsafeMutableRawPointer, _ physical: UInt32) {
        (bytes - 56).storeBytes(of: physical, as: UInt32.self)
    }

    @inline(__always)
    static func position(_ bytes: UnsafeMutableRawPointer) -> Int {
        Int((bytes - 52).load(as: UInt32.self))
    }

    @inline(__always)
    static func setPosition(_ bytes: UnsafeMutableRawPointer, _ position: Int) {
        (bytes - 52).storeBytes(of: UInt32(truncatingIfNeeded: position), as: UInt32.self)
    }
}
