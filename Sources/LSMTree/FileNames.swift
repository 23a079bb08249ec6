import StoreCore

/// The names of a store's files (FORMAT.md). Every file but `CURRENT` carries a number drawn
/// from one counter, padded to six digits: `NNNNNN.log` (a WAL), `NNNNNN.sst`, `MANIFEST-NNNNNN`.
/// Files written atomically pass through `NAME.tmp` first.
enum FileNames {
    enum Kind: Equatable {
        case wal, table, manifest
    }

    static let current = "CURRENT"
    static let manifestPrefix = "MANIFEST-"
    static let walSuffix = ".log"
    static let tableSuffix = ".sst"

    static func wal(_ number: UInt64) -> String { padded(number, suffix: walSuffix) }
    static func table(_ number: UInt64) -> String { padded(number, suffix: tableSuffix) }
    static func manifest(_ number: UInt64) -> String { padded(number, prefix: manifestPrefix) }
    static func temporary(_ name: String) -> String { StorageDirectory.temporaryName(for: name) }

    /// The number, padded with zeros to six digits, between `prefix` and `suffix`.
    static func padded(_ number: UInt64, prefix: String = "", suffix: String = "") -> String {
        let digits = String(number)
        return prefix + String(repeating: "0", count: max(0, 6 - digits.count)) + digits + suffix
    }

    /// The kind and number of a numbered file; `nil` for any other name (`CURRENT`, `LOCK`,
    /// `*.tmp`, foreign files).
    static func parse(_ name: String) -> (kind: Kind, number: UInt64)? {
        if name.hasPrefix(manifestPrefix) {
            return UInt64(name.dropFirst(manifestPrefix.count)).map { (.manifest, $0) }
        }
        if name.hasSuffix(walSuffix) { return UInt64(name.dropLast(walSuffix.count)).map { (.wal, $0) } }
        if name.hasSuffix(tableSuffix) { return UInt64(name.dropLast(tableSuffix.count)).map { (.table, $0) } }
        return nil
    }

    /// The number of `name` when it is a file of `kind`.
    static func number(of name: String, _ kind: Kind) -> UInt64? {
        guard let parsed = parse(name), parsed.kind == kind else { return nil }
        return parsed.number
    }

    /// What `CURRENT` holds when it names MANIFEST `number`: its name and a newline.
    static func currentContents(manifest number: UInt64) -> [UInt8] {
        Array((manifest(number) + "\n").utf8)
    }

    /// The MANIFEST that `CURRENT`'s contents name (its file name and number); `nil` when they
    /// name none.
    static func manifestNamed(byCurrent contents: [UInt8]) -> (name: String, number: UInt64)? {
        let text = String(decoding: contents, as: UTF8.self)
        guard text.hasSuffix("\n") else { return nil }
        let name = String(text.dropLast())
        guard let number = number(of: name, .manifest) else { return nil }
        return (name, number)
    }
}
