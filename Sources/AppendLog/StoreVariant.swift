import StoreCore

/// The variant a `log` store was created with (`format`, `deletes`), kept in its `VARIANT` file
/// so that a store is always read the way it was written (FORMAT.md, "Variant").
enum StoreVariant {
    static let fileName = "VARIANT"

    /// The store's recorded variant. A store without the file records one now: what `requested`
    /// names for a new store, `binary`/`inline` for a store whose segments predate the file.
    static func readOrRecord(
        in storage: StorageDirectory, requested: AppendLogSettings
    ) throws -> (format: RecordFormat, deletes: DeleteRecording) {
        if try storage.exists(fileName) {
            return try parse(storage.readAll(fileName), path: storage.path(of: fileName))
        }
        let hasSegments = try storage.list().contains { Segment.id(fromName: $0, suffix: ".log") != nil }
        let variant = hasSegments
            ? (format: RecordFormat.binary, deletes: DeleteRecording.inline)
            : (format: requested.requestedFormat ?? .binary, deletes: requested.requestedDeletes ?? .inline)
        try storage.writeAtomically(fileName, contents: encode(variant))
        return variant
    }

    static func encode(_ variant: (format: RecordFormat, deletes: DeleteRecording)) -> [UInt8] {
        Array("format=\(variant.format.rawValue)\ndeletes=\(variant.deletes.rawValue)\n".utf8)
    }

    /// Parses `format=…` and `deletes=…` lines; anything else is a corrupt file.
    static func parse(_ bytes: [UInt8], path: String) throws(StoreError) -> (format: RecordFormat, deletes: DeleteRecording) {
        var format: RecordFormat?
        var deletes: DeleteRecording?
        var offset = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            defer { offset += line.count + 1 }
            guard !line.isEmpty else { continue }
            let text = String(decoding: line, as: UTF8.self)
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            switch (parts.first, parts.count == 2 ? parts[1] : nil) {
            case let ("format", value?) where RecordFormat(rawValue: value) != nil && format == nil:
                format = RecordFormat(rawValue: value)
            case let ("deletes", value?) where DeleteRecording(rawValue: value) != nil && deletes == nil:
                deletes = DeleteRecording(rawValue: value)
            default:
                throw .corrupted(file: path, offset: Int64(offset), reason: "unexpected line `\(text)` (expected format=\(RecordFormat.allCases.map(\.rawValue).joined(separator: "|")) and deletes=\(DeleteRecording.allCases.map(\.rawValue).joined(separator: "|")))")
            }
        }
        guard let format, let deletes else {
            throw .corrupted(file: path, offset: Int64(bytes.count), reason: "missing the format or deletes line")
        }
        return (format, deletes)
    }
}
