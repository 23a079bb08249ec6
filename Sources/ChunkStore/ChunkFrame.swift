/// A chunk-sized buffer: a working copy, a table page, or a cached chunk. Working copies become
/// cached chunks by being written, without a copy, so all of them come from here.
enum ChunkFrame {
    static func allocate(chunkSize: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
    }

    static func deallocate(_ bytes: UnsafeMutableRawPointer) {
        bytes.deallocate()
    }
}

/// A frame out of the cache index that readers may still be reading, and the cache epoch it
/// left at. (A struct, not a tuple: arrays of labeled tuples look their metadata up at run time.)
struct RetiredFrame {
    var frame: UnsafeMutableRawPointer
    var epoch: UInt64
}
