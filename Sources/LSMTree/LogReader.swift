import StoreCore

/// Reads the records of a framed file.
struct LogReader {
    struct Result {
        var records: [(offset: Int, bytes: [UInt8])] = []
        /// End of the last complete record.
        var validEnd = 0
        /// Bytes past `validEnd` that did not form a complete record (a torn tail).
        var tornBytes = 0
        /// Bytes past `validEnd` that are no part of this log: zeros written ahead, or records of
        /// a recycled file's earlier use (the recyclable layout only).
        var staleBytes = 0
    }

    /// Reads the records of WAL `logNumber`: in the recyclable layout when its first fragment
    /// has a recyclable type (format 3, and any recycled file), else in the legacy layout (a
    /// WAL of format ≤ 2, or one with nothing written yet).
    static func read(_ bytes: [UInt8], path: String, logNumber: UInt64) throws -> Result {
        if let first = bytes.count > 6 ? LogFormat.FragmentType(rawValue: bytes[6]) : nil, first.isRecyclable {
            return try RecyclableLogReader(bytes: bytes, path: path, logNumber: LogFormat.headerLogNumber(logNumber)).read()
        }
        return try read(bytes, path: path)
    }

    /// Reads every record. A damaged or incomplete fragment with nothing valid after it is a torn
    /// tail (the end of the log); damage followed by more data is corruption, reported with the
    /// file and offset.
    static func read(_ bytes: [UInt8], path: String) throws -> Result {
        var result = Result()
        var position = 0
        var pending: [UInt8] = []
        var pendingStart = -1
        let count = bytes.count
        // A fragment whose length field was damaged still holds a whole payload: some prefix of
        // the bytes after its header matches its checksum. A torn write's partial payload does not.
        func completeWithBadLength(_ at: Int) -> Bool {
            guard at + LogFormat.headerSize <= count else { return false }
            let stored = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
            let expected = CRC32C.unmask(stored)
            let end = min(count, at + LogFormat.blockSize - at % LogFormat.blockSize)
            return bytes.withUnsafeBytes { raw -> Bool in
                var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(at + 6)..<(at + 7)]))
                if crc == expected { return true }
                for index in (at + LogFormat.headerSize)..<end {
                    crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[index..<(index + 1)]), continuing: crc)
                    if crc == expected { return true }
                }
                return false
            }
        }

        // Damage is a torn tail — the end of the log — when the write that made it never
        // finished: a fragment reaching past the end of the file, or zeros where the next header
        // should be with only zeros after. A complete fragment that fails its checksum, or
        // damage followed by more data, is corruption.
        func damaged(_ at: Int, _ reason: String, complete: Bool = false, unwritten: Bool = false) throws -> Result {
            if unwritten {
                result.tornBytes = count - result.validEnd
                return result
            }
            let nonZeroAfter = bytes[min(count, at)...].contains { $0 != 0 }
            let declared = at + LogFormat.headerSize <= count
                ? Int(UInt16(bytes[at + 4]) | UInt16(bytes[at + 5]) << 8) : 0
            if !complete && (!nonZeroAfter || (at + LogFormat.headerSize + declared > count && !completeWithBadLength(at))) {
                result.tornBytes = count - result.validEnd
                return result
            }
            throw StoreError.corrupted(file: path, offset: Int64(at), reason: reason)
        }
        while position < count {
            let left = LogFormat.blockSize - position % LogFormat.blockSize
            if left < LogFormat.headerSize {
                position += left
                continue
            }
            guard position + LogFormat.headerSize <= count else {
                return try damaged(position, "fragment header cut short")
            }
            let length = Int(UInt16(bytes[position + 4]) | UInt16(bytes[position + 5]) << 8)
            let typeByte = bytes[position + 6]
            if typeByte == 0 && length == 0 && bytes[position..<(position + 4)].allSatisfy({ $0 == 0 }) {
                // Zeros where a header should be: the end of what was written.
                return try damaged(position, "zero header")
            }
            guard length <= left - LogFormat.headerSize, position + LogFormat.headerSize + length <= count,
                  let type = LogFormat.FragmentType(rawValue: typeByte), !type.isRecyclable else {
                return try damaged(position, "bad fragment length \(length) or type \(typeByte)")
            }
            let stored = UInt32(bytes[position]) | UInt32(bytes[position + 1]) << 8
                | UInt32(bytes[position + 2]) << 16 | UInt32(bytes[position + 3]) << 24
            let actual = bytes.withUnsafeBytes { raw -> UInt32 in
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(position + 6)..<(position + LogFormat.headerSize + length)]))
            }
            guard CRC32C.unmask(stored) == actual else {
                // A write into preallocated space that stopped after its first sectors leaves a
                // whole fragment whose last sectors still hold the zeros written ahead, and only
                // zeros after it: torn, not corrupt.
                let end = position + LogFormat.headerSize + length
                let lastSector = (end - 1) / 512 * 512
                let unwritten = lastSector > position && !bytes[lastSector...].contains { $0 != 0 }
                return try damaged(position, "fragment checksum mismatch", complete: true, unwritten: unwritten)
            }
            let payload = bytes[(position + LogFormat.headerSize)..<(position + LogFormat.headerSize + length)]
            switch type.role {
            case .full:
                guard pendingStart < 0 else { return try damaged(pendingStart, "record left unfinished") }
                result.records.append((position, Array(payload)))
                result.validEnd = position + LogFormat.headerSize + length
            case .first:
                guard pendingStart < 0 else { return try damaged(pendingStart, "record left unfinished") }
                pendingStart = position
                pending = Array(payload)
            case .middle:
                guard pendingStart >= 0 else { return try damaged(position, "middle fragment without a first") }
                pending.append(contentsOf: payload)
            default:
                guard pendingStart >= 0 else { return try damaged(position, "last fragment without a first") }
                pending.append(contentsOf: payload)
                result.records.append((pendingStart, pending))
                result.validEnd = position + LogFormat.headerSize + length
                pending = []
                pendingStart = -1
            }
            position += LogFormat.headerSize + length
        }
        if pendingStart >= 0 { result.tornBytes = count - result.validEnd }
        return result
    }
}
