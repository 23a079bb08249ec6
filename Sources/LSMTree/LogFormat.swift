/// LevelDB-style record framing, shared by the WAL and the MANIFEST: the file is a sequence of
/// 32 KiB blocks; a record is cut into fragments that never cross a block boundary, each with a
/// header — masked CRC-32C (u32), payload length (u16), type (FULL, FIRST, MIDDLE, LAST). A block
/// tail too short for a header is zero-filled.
///
/// Two header layouts: the legacy one (7 bytes, types 1–4, the CRC over the type byte and the
/// payload), which the MANIFEST and WALs of format ≤ 2 use; and the recyclable one (11 bytes,
/// types 5–8, a u32 log number after the type, the CRC over type, log number and payload), which
/// WALs of format 3 use, so that a WAL file reused under a new number tells its new records from
/// the old ones it still holds (FORMAT.md, "Recycled WAL files").
enum LogFormat {
    static let blockSize = 32 * 1024
    static let headerSize = 7
    static let recyclableHeaderSize = 11

    enum FragmentType: UInt8 {
        case full = 1, first = 2, middle = 3, last = 4
        case recyclableFull = 5, recyclableFirst = 6, recyclableMiddle = 7, recyclableLast = 8

        var isRecyclable: Bool { rawValue >= 5 }

        /// The legacy type with the same role (FULL, FIRST, MIDDLE, LAST).
        var role: FragmentType { isRecyclable ? FragmentType(rawValue: rawValue - 4)! : self }

        /// The type for `role` in the chosen layout.
        static func of(_ role: FragmentType, recyclable: Bool) -> FragmentType {
            recyclable ? FragmentType(rawValue: role.rawValue + 4)! : role
        }
    }

    /// The log number a recyclable header carries: the WAL's file number, low 32 bits.
    static func headerLogNumber(_ number: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: number) }
}
