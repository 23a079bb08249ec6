import StoreCore

/// One state stable storage may hold after a power loss, as `PowerLossFileSystem` draws it: for
/// each name in the directory, the file's bytes. State 0 is the benign one (each file as of its
/// last sync, the entries as of the last directory sync); the others keep some unsynced changes.
public struct CrashState: Sendable {
    /// 0 for the synced-only state; the others are drawn from the seed and this index.
    public var index: Int
    /// Name → bytes.
    public var files: [String: [UInt8]]
    /// Unsynced writes (per 4 KiB page) kept whole, kept torn (a prefix of their 512-byte
    /// sectors), and lost.
    public var pagesKept = 0
    public var pagesTorn = 0
    public var pagesLost = 0
    /// A write persisted while an earlier write to the same file was lost, or persisted in one
    /// 4 KiB page while an earlier page it covers lost it.
    public var reordered = false
    /// Files in which an unsynced page was lost or torn below one that was kept: a hole followed
    /// by data, which no in-order append leaves.
    public var filesWithHoles = 0
    /// Unsynced creates, renames and unlinks kept, and undone.
    public var entryChangesKept = 0
    public var entryChangesUndone = 0

    /// Whether the state keeps any unsynced write torn or out of order.
    public var tornOrReordered: Bool { pagesTorn > 0 || reordered }
    /// Whether a store may refuse this state with a corruption error naming the file: its
    /// unsynced writes persisted out of order, or with a hole below kept data, which a store
    /// cannot tell from damage to data it had synced. A torn or cut tail is no excuse.
    public var mayBeRefused: Bool { reordered || filesWithHoles > 0 }

    public var summary: String {
        index == 0 ? "state 0 (synced only)"
            : "state \(index) (pages kept \(pagesKept), torn \(pagesTorn), lost \(pagesLost)\(reordered ? ", reordered" : "")\(filesWithHoles > 0 ? ", holes" : ""); entry changes kept \(entryChangesKept), undone \(entryChangesUndone))"
    }
}

/// Draws crash states from what the model recorded.
enum CrashStateDrawing {
    static let pageSize = 4096
    static let sectorSize = 512

    /// State `index` of the record (`names`: entries as of the last directory sync; `entryChanges`:
    /// the changes since; `files`: every tracked file).
    static func state(index: Int, seed: UInt64, names durableNames: [String: Int], entryChanges: [PendingEntryChange],
                      files: [Int: TrackedFile]) -> CrashState {
        var state = CrashState(index: index, files: [:])
        var random = SeededRandom(seed: seed, stream: index)
        var names = durableNames
        if index > 0 && !entryChanges.isEmpty {
            // None kept, all kept, or each independently.
            let mode = random.below(4)
            for change in entryChanges {
                let keep = mode == 0 ? false : mode == 1 ? true : random.below(2) == 0
                if keep && change.apply(to: &names) { state.entryChangesKept += 1 } else { state.entryChangesUndone += 1 }
            }
        }
        for (name, id) in names.sorted(by: { $0.key < $1.key }) {
            guard let file = files[id] else {
                state.files[name] = []
                continue
            }
            state.files[name] = index == 0 ? file.durable : image(of: file, random: &random, state: &state)
        }
        return state
    }

    /// The bytes one file keeps: its durable bytes, then none, all, or an in-order prefix of its
    /// pending changes; after the prefix, the writes up to the next truncate may land per 4 KiB
    /// page in any order — each page holds a prefix of the versions those writes gave it, and its
    /// newest kept version may be torn (a prefix of its sectors new, the rest as before).
    static func image(of file: TrackedFile, random: inout SeededRandom, state: inout CrashState) -> [UInt8] {
        var bytes = file.durable
        let changes = file.pending
        guard !changes.isEmpty else { return bytes }
        switch random.below(4) {
        case 0:
            state.pagesLost += pageCount(changes[...])
            return bytes
        case 1:
            state.pagesKept += pageCount(changes[...])
            for change in changes { change.apply(to: &bytes) }
            return bytes
        default:
            break
        }
        let cut = random.below(changes.count + 1)
        for change in changes[..<cut] { change.apply(to: &bytes) }
        var end = cut
        while end < changes.count, case .write = changes[end] { end += 1 }
        let base = bytes
        // The writes of the epoch touching each page, in order.
        var pages: [Int: [Int]] = [:]
        for index in cut..<end {
            guard case let .write(offset, data) = changes[index], !data.isEmpty else { continue }
            for page in (offset / pageSize)...((offset + data.count - 1) / pageSize) { pages[page, default: []].append(index) }
        }
        var appliedAny = Set<Int>()
        var missingAny = Set<Int>()
        var lowestGap: Int?
        var highestKept: Int?
        // Writes a page so far lost or tore: a write spanning pages may persist in a later page and
        // not in an earlier one (each page is written back on its own), which leaves the file
        // with missing bytes below kept ones, as a reordering does.
        var lostInLowerPage = Set<Int>()
        var splitWrite = false
        for (page, writers) in pages.sorted(by: { $0.key < $1.key }) {
            let kept = random.below(writers.count + 1)
            let pageStart = page * pageSize
            let pageEnd = pageStart + pageSize
            for (order, index) in writers.enumerated() {
                if order < kept {
                    appliedAny.insert(index)
                    if lostInLowerPage.contains(index) { splitWrite = true }
                } else {
                    missingAny.insert(index)
                    lostInLowerPage.insert(index)
                }
            }
            guard kept > 0 else {
                state.pagesLost += 1
                lowestGap = min(lowestGap ?? page, page)
                continue
            }
            highestKept = page
            // The page's newest kept version, and how far into the page it reaches.
            var version = Array(base[min(pageStart, base.count)..<min(pageEnd, base.count)])
            var reach = version.count
            for index in writers[..<kept] {
                guard case let .write(offset, data) = changes[index] else { continue }
                let from = max(offset, pageStart)
                let to = min(offset + data.count, pageEnd)
                PendingFileChange.write(data[(from - offset)..<(to - offset)], at: from - pageStart, into: &version)
                reach = max(reach, to - pageStart)
            }
            // Torn: sectors [0, keptSectors) new, the rest as the page was before the epoch.
            let sectors = (reach + sectorSize - 1) / sectorSize
            if sectors > 1 && random.below(3) == 0 {
                let keptSectors = 1 + random.below(sectors - 1)
                let newEnd = keptSectors * sectorSize
                let old = base.count > pageStart ? Array(base[pageStart..<min(pageEnd, base.count)]) : []
                var torn = Array(version[..<min(newEnd, version.count)])
                if old.count > torn.count { torn += old[torn.count...] }
                version = torn
                reach = version.count
                state.pagesTorn += 1
                missingAny.insert(writers[kept - 1])
                lostInLowerPage.insert(writers[kept - 1])
                lowestGap = min(lowestGap ?? page, page)
            } else {
                state.pagesKept += 1
            }
            PendingFileChange.write(version[..<reach], at: pageStart, into: &bytes)
        }
        if let firstMissing = missingAny.min(), appliedAny.contains(where: { $0 > firstMissing }) { state.reordered = true }
        if splitWrite { state.reordered = true }
        if let lowestGap, let highestKept, highestKept > lowestGap { state.filesWithHoles += 1 }
        return bytes
    }

    /// The 4 KiB pages the writes among `changes` touch (counted per write).
    static func pageCount(_ changes: ArraySlice<PendingFileChange>) -> Int {
        changes.reduce(0) { total, change in
            guard case let .write(offset, data) = change, !data.isEmpty else { return total }
            return total + (offset + data.count - 1) / pageSize - offset / pageSize + 1
        }
    }
}
