import StoreCore

/// The SSTs of each level. Level 0 files may overlap (ordered oldest first); the files of every
/// other level are disjoint and ordered by key.
struct Version {
    var levels: [[FileMetadata]] = Array(repeating: [], count: LSMStore.levels)

    mutating func apply(_ edit: VersionEdit) {
        for (level, number) in edit.deleted {
            levels[level].removeAll { $0.number == number }
        }
        for (level, file) in edit.added {
            levels[level].append(file)
        }
        levels[0].sort { $0.number < $1.number }
        for level in 1..<levels.count {
            levels[level].sort { KeyOrder.less($0.smallest, $1.smallest) }
        }
    }

    func bytes(level: Int) -> Int { levels[level].reduce(0) { $0 + $1.size } }
    var fileCount: Int { levels.reduce(0) { $0 + $1.count } }
    var allFiles: [FileMetadata] { levels.flatMap { $0 } }

    /// Files of `level` whose key range meets [smallest, largest].
    func overlapping(level: Int, smallest: [UInt8], largest: [UInt8]) -> [FileMetadata] {
        levels[level].filter { KeyOrder.compare($0.largest, smallest) >= 0 && KeyOrder.compare($0.smallest, largest) <= 0 }
    }

    /// An edit that recreates this version from nothing (a new MANIFEST starts with it).
    func snapshot(lastSequence: UInt64, nextFileNumber: UInt64, logNumber: UInt64) -> VersionEdit {
        var edit = VersionEdit(lastSequence: lastSequence, nextFileNumber: nextFileNumber, logNumber: logNumber)
        for (level, files) in levels.enumerated() {
            for file in files { edit.added.append((level, file)) }
        }
        return edit
    }
}
