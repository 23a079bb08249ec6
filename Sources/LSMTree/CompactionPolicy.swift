import StoreCore

/// One compaction: files of one level (or every level above the output, for a full compaction)
/// merged with the files of the output level that their keys overlap.
struct Compaction {
    /// Input files with their levels, newest first for any key: L0 by descending number,
    /// then each level above the output level in key order.
    var inputs: [(level: Int, file: FileMetadata)]
    /// The files of the output level the inputs overlap (read as one sorted sequence).
    var next: [FileMetadata]
    var outputLevel: Int
    /// No deeper level holds these keys: tombstones can go.
    var dropTombstones: Bool
    var kind: String

    /// One file of a level ≥ 1 with nothing to merge with below: it moves down without a rewrite.
    var isMove: Bool {
        inputs.count == 1 && inputs[0].level > 0 && next.isEmpty
    }
}

/// Decides what to compact next, as LevelDB's version set does: each level has a score — L0 its
/// file count over `l0_compaction_trigger`, deeper levels their bytes over their target — and the
/// level with the highest score ≥ 1 is compacted. L0 compacts all its files (they overlap); a
/// deeper level one file, taken round-robin by key after the level's compact pointer.
struct CompactionPolicy {
    let settings: LSMSettings
    /// Per level: the largest key of the last file compacted, so the next compaction starts after it.
    private(set) var compactPointers: [[UInt8]] = Array(repeating: [], count: LSMStore.levels)

    init(settings: LSMSettings) {
        self.settings = settings
    }

    /// How urgently `level` needs compacting (≥ 1: due).
    func score(level: Int, in layout: LevelLayout) -> Double {
        if level == 0 { return Double(layout.levels[0].count) / Double(settings.l0CompactionTrigger) }
        return Double(layout.bytes(level: level)) / Double(settings.targetBytes(level: level))
    }

    /// The most urgent compaction, or `nil` when no level is due.
    func pick(_ layout: LevelLayout) -> Compaction? {
        var bestLevel = -1
        var bestScore = 1.0
        let l0Score = score(level: 0, in: layout)
        if l0Score >= bestScore {
            bestLevel = 0
            bestScore = l0Score
        }
        for level in 1..<(LSMStore.levels - 1) {
            let score = score(level: level, in: layout)
            if score > bestScore {
                bestLevel = level
                bestScore = score
            }
        }
        guard bestLevel >= 0 else { return nil }
        var inputs: [FileMetadata]
        if bestLevel == 0 {
            inputs = layout.levels[0].sorted { $0.number > $1.number }
        } else {
            let files = layout.levels[bestLevel]
            let pointer = compactPointers[bestLevel]
            let chosen = files.first { pointer.isEmpty || KeyOrder.compare($0.smallest, pointer) > 0 } ?? files[0]
            inputs = [chosen]
        }
        let smallest = inputs.map(\.smallest).min(by: KeyOrder.less)!
        let largest = inputs.map(\.largest).max(by: KeyOrder.less)!
        let next = layout.overlapping(level: bestLevel + 1, smallest: smallest, largest: largest)
        let all = inputs + next
        let low = all.map(\.smallest).min(by: KeyOrder.less)!
        let high = all.map(\.largest).max(by: KeyOrder.less)!
        let deeper = ((bestLevel + 2)..<LSMStore.levels).contains { !layout.overlapping(level: $0, smallest: low, largest: high).isEmpty }
        return Compaction(inputs: inputs.map { (bestLevel, $0) }, next: next, outputLevel: bestLevel + 1,
                          dropTombstones: !deeper, kind: "L\(bestLevel)+L\(bestLevel + 1)")
    }

    /// A full compaction: every SST into the deepest level in use, dropping every shadowed
    /// version and every tombstone; `nil` when there are no SSTs.
    func full(_ layout: LevelLayout) -> Compaction? {
        guard layout.fileCount > 0 else { return nil }
        let deepest = (1..<LSMStore.levels).last { !layout.levels[$0].isEmpty } ?? 1
        // Every level above the deepest, newest first: L0 by descending number, then each
        // level's disjoint files in key order.
        var inputs = layout.levels[0].sorted { $0.number > $1.number }.map { (level: 0, file: $0) }
        for level in 1..<deepest { inputs += layout.levels[level].map { (level: level, file: $0) } }
        return Compaction(inputs: inputs, next: layout.levels[deepest], outputLevel: deepest,
                          dropTombstones: true, kind: "full")
    }

    /// Notes that `compaction` was installed: a single file taken from a level ≥ 1 moves that
    /// level's pointer past it.
    mutating func compacted(_ compaction: Compaction) {
        if let (level, last) = compaction.inputs.last, level > 0, compaction.inputs.count == 1 {
            compactPointers[level] = last.largest
        }
    }
}
