import StoreCore

/// Reads a WAL in the recyclable layout (format 3), which may be a recycled file: after its last
/// record it can hold records of an earlier use of the file (another log number), a torn write,
/// preallocated zeros, or nothing.
///
/// The log ends cleanly at the first fragment that is zeros, cut short by the end of the file,
/// damaged, or valid but of another log number (stale). A write can only be torn at the end of
/// the log, so if a valid fragment of *this* log number follows that point anywhere in the file,
/// the stop was damage to acknowledged data: corruption, reported with the file and offset.
struct RecyclableLogReader {
    let bytes: [UInt8]
    let path: String
    let logNumber: UInt32

    private enum Stop {
        /// Zeros where a header should be.
        case unwritten
        /// The end of the file inside a fragment: a write cut short.
        case cut
        /// A valid fragment of another log number: the file's earlier use.
        case stale
        /// A fragment that fails its checksum, type or length checks.
        case damaged(String)
    }

    func read() throws -> LogReader.Result {
        var result = LogReader.Result()
        let headerSize = LogFormat.recyclableHeaderSize
        let count = bytes.count
        var position = 0
        var pending: [UInt8] = []
        var pendingStart = -1
        while position < count {
            let left = LogFormat.blockSize - position % LogFormat.blockSize
            if left < headerSize {
                position += left
                continue
            }
            guard position + headerSize <= count else { return try stop(.cut, at: position, result, pending: pendingStart >= 0) }
            let length = Int(UInt16(bytes[position + 4]) | UInt16(bytes[position + 5]) << 8)
            let typeByte = bytes[position + 6]
            if typeByte == 0 && length == 0 && bytes[position..<(position + 4)].allSatisfy({ $0 == 0 }) {
                return try stop(.unwritten, at: position, result, pending: pendingStart >= 0)
            }
            guard let type = LogFormat.FragmentType(rawValue: typeByte), type.isRecyclable, length <= left - headerSize else {
                return try stop(.damaged("bad fragment length \(length) or type \(typeByte)"), at: position, result, pending: pendingStart >= 0)
            }
            guard position + headerSize + length <= count else {
                return try stop(.cut, at: position, result, pending: pendingStart >= 0)
            }
            guard checksumMatches(at: position, length: length) else {
                return try stop(.damaged("fragment checksum mismatch"), at: position, result, pending: pendingStart >= 0)
            }
            guard fixed32(at: position + 7) == logNumber else {
                return try stop(.stale, at: position, result, pending: pendingStart >= 0)
            }
            let payload = bytes[(position + headerSize)..<(position + headerSize + length)]
            // Fragments of this log out of order cannot come from a tear: corruption.
            switch type.role {
            case .first:
                guard pendingStart < 0 else { throw corrupted(pendingStart, "record left unfinished") }
                pendingStart = position
                pending = Array(payload)
            case .middle:
                guard pendingStart >= 0 else { throw corrupted(position, "middle fragment without a first") }
                pending.append(contentsOf: payload)
            case .last:
                guard pendingStart >= 0 else { throw corrupted(position, "last fragment without a first") }
                pending.append(contentsOf: payload)
                result.records.append((pendingStart, pending))
                result.validEnd = position + headerSize + length
                pending = []
                pendingStart = -1
            default:
                guard pendingStart < 0 else { throw corrupted(pendingStart, "record left unfinished") }
                result.records.append((position, Array(payload)))
                result.validEnd = position + headerSize + length
            }
            position += headerSize + length
        }
        if pendingStart >= 0 { result.tornBytes = count - result.validEnd }
        return result
    }

    /// The end of the log at `at`, unless a fragment of this log follows it.
    private func stop(_ reason: Stop, at: Int, _ result: LogReader.Result, pending: Bool) throws -> LogReader.Result {
        if let later = nextFragmentOfThisLog(after: at) {
            let what: String
            switch reason {
            case .unwritten: what = "zero header"
            case .cut: what = "fragment cut short"
            case .stale: what = "fragment of another log number"
            case let .damaged(detail): what = detail
            }
            throw corrupted(at, "\(what), yet a record of log \(logNumber) follows at offset \(later)")
        }
        var result = result
        switch reason {
        case .damaged, .cut: result.tornBytes = bytes.count - result.validEnd
        case .unwritten, .stale: if pending { result.tornBytes = bytes.count - result.validEnd }
        }
        result.staleBytes = bytes.count - result.validEnd - result.tornBytes
        return result
    }

    /// The offset of the first valid fragment of this log number after `at`, at any byte offset.
    private func nextFragmentOfThisLog(after at: Int) -> Int? {
        let headerSize = LogFormat.recyclableHeaderSize
        let count = bytes.count
        guard at + 1 + headerSize <= count else { return nil }
        let wanted = logNumber
        return bytes.withUnsafeBytes { raw -> Int? in
            for position in (at + 1)...(count - headerSize) {
                // The log number first: it rules out almost every offset at the cost of a load.
                guard raw.loadUnaligned(fromByteOffset: position + 7, as: UInt32.self) == wanted.littleEndian else { continue }
                let typeByte = raw[position + 6]
                guard typeByte >= 5 && typeByte <= 8 else { continue }
                let length = Int(raw[position + 4]) | Int(raw[position + 5]) << 8
                let left = LogFormat.blockSize - position % LogFormat.blockSize
                guard left >= headerSize, length <= left - headerSize, position + headerSize + length <= count else { continue }
                if checksumMatches(at: position, length: length) { return position }
            }
            return nil
        }
    }

    private func checksumMatches(at position: Int, length: Int) -> Bool {
        let stored = fixed32(at: position)
        return bytes.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(position + 6)..<(position + LogFormat.recyclableHeaderSize + length)]))
        } == CRC32C.unmask(stored)
    }

    private func fixed32(at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    private func corrupted(_ offset: Int, _ reason: String) -> StoreError {
        .corrupted(file: path, offset: Int64(offset), reason: reason)
    }
}
