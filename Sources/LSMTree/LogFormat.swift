/// LevelDB-style record framing, shared by the WAL and the MANIFEST: the file is a sequence of
/// 32 KiB blocks; a record is cut into fragments that never cross a block boundary, each with a
/// 7-byte header — masked CRC-32C (u32, over the type byte and the payload), payload length (u16),
/// type (FULL, FIRST, MIDDLE, LAST). A block tail too short for a header is zero-filled.
enum LogFormat {
    static let blockSize = 32 * 1024
    static let headerSize = 7

    enum FragmentType: UInt8 {
        case full = 1, first = 2, middle = 3, last = 4
    }
}
