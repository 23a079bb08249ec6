@testable import LSMTree
import StoreCore
import Testing

@Suite("lsm version edit")
struct VersionEditTests {
    static func file(_ number: UInt64, _ smallest: String, _ largest: String) -> FileMetadata {
        FileMetadata(number: number, size: 1000 + Int(number), smallest: Array(smallest.utf8), largest: Array(largest.utf8),
                     maxSequence: 500 + number, entries: 10 * Int(number))
    }

    static let edit: VersionEdit = {
        var edit = VersionEdit(lastSequence: 1 << 40, nextFileNumber: 300, logNumber: 299)
        edit.deleted = [(0, 12), (3, 200)]
        edit.added = [(1, file(21, "a", "m")), (6, file(22, "", "\u{FF}zz")), (0, file(23, "k", "k"))]
        return edit
    }()

    @Test("encode then decode gives the same edit, for full and for sparse edits")
    func roundTrip() throws {
        var sparse = VersionEdit()
        sparse.deleted = [(2, 7)]
        for edit in [Self.edit, sparse, VersionEdit(), VersionEdit(lastSequence: 0, nextFileNumber: nil, logNumber: 5)] {
            let decoded = try VersionEdit.decode(edit.encoded(), path: "MANIFEST-000001", offset: 0)
            #expect(decoded == edit)
            #expect(decoded.lastSequence == edit.lastSequence && decoded.nextFileNumber == edit.nextFileNumber && decoded.logNumber == edit.logNumber)
            #expect(decoded.added.map(\.file) == edit.added.map(\.file) && decoded.added.map(\.level) == edit.added.map(\.level))
        }
    }

    /// A record cut inside a field must be rejected; cut between fields it is a shorter edit
    /// (the MANIFEST's record framing, with its checksum, is what catches a cut record).
    @Test("input cut short inside a field is rejected with the file and offset")
    func cutShort() throws {
        let bytes = Self.edit.encoded()
        var boundaries: [Int] = []
        var partial = VersionEdit(lastSequence: Self.edit.lastSequence)
        boundaries.append(partial.encoded().count)
        partial.nextFileNumber = Self.edit.nextFileNumber
        boundaries.append(partial.encoded().count)
        partial.logNumber = Self.edit.logNumber
        boundaries.append(partial.encoded().count)
        for deleted in Self.edit.deleted {
            partial.deleted.append(deleted)
            boundaries.append(partial.encoded().count)
        }
        for added in Self.edit.added {
            partial.added.append(added)
            boundaries.append(partial.encoded().count)
        }
        #expect(boundaries.last == bytes.count)
        var rejected = 0
        for length in 1..<bytes.count {
            let cut = Array(bytes.prefix(length))
            if boundaries.contains(length) {
                #expect(throws: Never.self, "cut at field boundary \(length)") { try VersionEdit.decode(cut, path: "MANIFEST-000009", offset: 64) }
                continue
            }
            do {
                _ = try VersionEdit.decode(cut, path: "MANIFEST-000009", offset: 64)
                Issue.record("cut at \(length) of \(bytes.count) decoded")
            } catch let error as StoreError {
                guard case let .corrupted(file, offset, _) = error else { throw error }
                #expect(file == "MANIFEST-000009" && offset == 64)
                rejected += 1
            }
        }
        #expect(rejected == bytes.count - boundaries.count)
    }

    @Test("an unknown tag or a level out of range is rejected")
    func badFields() {
        #expect(throws: StoreError.self) { try VersionEdit.decode([9, 1], path: "m", offset: 0) }
        #expect(throws: StoreError.self) { try VersionEdit.decode([4, UInt8(LSMStore.levels), 1], path: "m", offset: 0) }
        var tooDeep = VersionEdit()
        tooDeep.added = [(LSMStore.levels, Self.file(1, "a", "b"))]
        #expect(throws: StoreError.self) { try VersionEdit.decode(tooDeep.encoded(), path: "m", offset: 0) }
    }

    @Test("applying edits to a level layout keeps L0 by file number and deeper levels by smallest key")
    func applyOrders() {
        var version = LevelLayout()
        var edit = VersionEdit()
        edit.added = [(0, Self.file(9, "a", "z")), (0, Self.file(4, "b", "c")), (2, Self.file(5, "m", "p")), (2, Self.file(6, "a", "c"))]
        version.apply(edit)
        #expect(version.levels[0].map(\.number) == [4, 9])
        #expect(version.levels[2].map(\.number) == [6, 5])
        var remove = VersionEdit()
        remove.deleted = [(0, 4), (2, 6)]
        remove.added = [(3, Self.file(6, "a", "c"))]
        version.apply(remove)
        #expect(version.levels[0].map(\.number) == [9])
        #expect(version.levels[2].map(\.number) == [5] && version.levels[3].map(\.number) == [6])
        #expect(version.overlapping(level: 2, smallest: Array("n".utf8), largest: Array("q".utf8)).map(\.number) == [5])
        #expect(version.overlapping(level: 2, smallest: Array("q".utf8), largest: Array("r".utf8)).isEmpty)
        // A snapshot edit recreates the version from nothing.
        var copy = LevelLayout()
        copy.apply(version.snapshot(lastSequence: 1, nextFileNumber: 2, logNumber: 3))
        #expect(copy.allFiles == version.allFiles)
    }
}
