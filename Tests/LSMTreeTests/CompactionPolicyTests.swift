@testable import LSMTree
import StoreCore
import Testing

@Suite("lsm compaction policy")
struct CompactionPolicyTests {
    static let settings = try! LSMSettings(StoreOptions(durability: .none, settings: [
        "l0_compaction_trigger": "4", "level1_size": "100KiB", "level_multiplier": "10",
    ]))

    static func file(_ number: UInt64, _ smallest: Int, _ largest: Int, size: Int = 10 << 10) -> FileMetadata {
        FileMetadata(number: number, size: size, smallest: numberedKey(smallest), largest: numberedKey(largest), maxSequence: number, entries: 1)
    }

    static func version(_ files: [(Int, FileMetadata)]) -> LevelLayout {
        var version = LevelLayout()
        var edit = VersionEdit()
        edit.added = files.map { (level: $0.0, file: $0.1) }
        version.apply(edit)
        return version
    }

    @Test("nothing is due below the triggers")
    func idle() {
        let policy = CompactionPolicy(settings: Self.settings)
        let version = Self.version([(0, Self.file(1, 0, 9)), (0, Self.file(2, 5, 20)), (1, Self.file(3, 0, 100, size: 90 << 10))])
        #expect(policy.pick(version) == nil)
        #expect(policy.score(level: 0, in: version) == 0.5)
        #expect(policy.score(level: 1, in: version) == 0.9)
    }

    @Test("L0 at its trigger: all its files, newest first, with the L1 files they overlap")
    func levelZero() throws {
        let policy = CompactionPolicy(settings: Self.settings)
        let version = Self.version([
            (0, Self.file(4, 0, 9)), (0, Self.file(6, 5, 20)), (0, Self.file(7, 30, 40)), (0, Self.file(9, 12, 13)),
            (1, Self.file(2, 0, 3)), (1, Self.file(3, 35, 50)), (1, Self.file(5, 60, 70)),
            (3, Self.file(1, 45, 46)),
        ])
        let compaction = try #require(policy.pick(version))
        #expect(compaction.inputs.map(\.file.number) == [9, 7, 6, 4])
        #expect(compaction.inputs.allSatisfy { $0.level == 0 })
        #expect(compaction.next.map(\.number) == [2, 3])
        #expect(compaction.outputLevel == 1)
        #expect(!compaction.dropTombstones, "L3 holds keys in the range: tombstones must stay")
        #expect(!compaction.isMove)
    }

    @Test("a level over its target: one file round-robin after the compact pointer; a file with nothing below moves")
    func roundRobin() throws {
        var policy = CompactionPolicy(settings: Self.settings)
        let version = Self.version([
            (1, Self.file(1, 0, 9, size: 60 << 10)), (1, Self.file(2, 10, 19, size: 60 << 10)), (1, Self.file(3, 20, 29, size: 60 << 10)),
            (2, Self.file(4, 12, 14)),
        ])
        var picked: [UInt64] = []
        for _ in 0..<4 {
            let compaction = try #require(policy.pick(version))
            #expect(compaction.outputLevel == 2 && compaction.inputs.count == 1)
            picked.append(compaction.inputs[0].file.number)
            #expect(compaction.isMove == (compaction.inputs[0].file.number != 2), "only file 2 overlaps L2")
            #expect(compaction.dropTombstones)
            policy.compacted(compaction)
        }
        #expect(picked == [1, 2, 3, 1], "wraps around after the last file")
    }

    @Test("a full compaction takes every level above the deepest into it")
    func full() throws {
        let policy = CompactionPolicy(settings: Self.settings)
        #expect(policy.full(LevelLayout()) == nil)
        let version = Self.version([(0, Self.file(5, 0, 9)), (0, Self.file(8, 0, 9)), (1, Self.file(3, 0, 5)), (4, Self.file(1, 0, 100))])
        let compaction = try #require(policy.full(version))
        #expect(compaction.inputs.map(\.file.number) == [8, 5, 3])
        #expect(compaction.next.map(\.number) == [1])
        #expect(compaction.outputLevel == 4 && compaction.dropTombstones)
    }
}

@Suite("lsm file names")
struct FileNamesTests {
    @Test("names pad numbers to six digits and parse back; other names are not numbered files")
    func names() {
        #expect(FileNames.wal(7) == "000007.log")
        #expect(FileNames.table(1_234_567) == "1234567.sst")
        #expect(FileNames.manifest(12) == "MANIFEST-000012")
        #expect(FileNames.temporary("000003.sst") == "000003.sst.tmp")
        for (name, kind, number) in [("000007.log", FileNames.Kind.wal, UInt64(7)), ("1234567.sst", .table, 1_234_567), ("MANIFEST-000012", .manifest, 12)] {
            let parsed = FileNames.parse(name)
            #expect(parsed?.kind == kind && parsed?.number == number, "\(name)")
        }
        for name in ["CURRENT", "LOCK", "STOREBENCH", "000003.sst.tmp", "MANIFEST-", "x.log", "MANIFEST-000001.tmp", ".sst"] {
            #expect(FileNames.parse(name) == nil, "\(name)")
        }
        #expect(FileNames.number(of: "000009.log", .table) == nil)
    }

    @Test("CURRENT names a MANIFEST by its name and a newline")
    func current() {
        let contents = FileNames.currentContents(manifest: 42)
        #expect(contents == Array("MANIFEST-000042\n".utf8))
        #expect(FileNames.manifestNamed(byCurrent: contents)?.name == "MANIFEST-000042")
        #expect(FileNames.manifestNamed(byCurrent: contents)?.number == 42)
        for bad in ["MANIFEST-000042", "MANIFEST-x\n", "000042.log\n", "", "\n"] {
            #expect(FileNames.manifestNamed(byCurrent: Array(bad.utf8)) == nil, "\(bad)")
        }
    }
}
