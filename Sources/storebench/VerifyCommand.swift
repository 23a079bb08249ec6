import ArgumentParser
import Engines
import Report
import StoreCore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Open a store directory (recovering it), read every entry and report what it holds.",
        discussion: """
            The engine is the one named in the directory's STOREBENCH identity file. Engine settings             apply to the open, e.g. `--set use_hints=false` makes `log` read and check every record.
            """
    )

    @Argument(help: "The store directory.")
    var directory: String

    @OptionGroup var store: StoreOptionGroup

    func run() throws {
        let start = MonotonicClock.now()
        let store = try EngineRegistry.openExisting(directory: directory, options: try self.store.storeOptions())
        let openSeconds = MonotonicClock.seconds(since: start)
        var entries = 0
        var keyBytes = 0
        var valueBytes = 0
        var previous: [UInt8]?
        try store.scan(from: [], limit: Int.max) { key, value in
            if let previous, KeyOrder.compare(previous, key) >= 0 {
                throw StoreError.corrupted(file: directory, offset: 0, reason: "scan returned keys out of order after entry \(entries)")
            }
            previous = Array(key)
            entries += 1
            keyBytes += key.count
            valueBytes += value.count
        }
        let structure = try (store as? StructureVerifying)?.verifyStructure() ?? []
        let statistics = try store.statistics()
        try store.close()
        print("""
            engine:      \(store.engineName)
            opened in:   \(NumberFormat.fixed(openSeconds * 1000, places: 1)) ms
            entries:     \(entries) (keys \(ByteSize.format(keyBytes)), values \(ByteSize.format(valueBytes)))
            files:       \(statistics.fileCount), \(ByteSize.format(statistics.diskBytes)) on disk
            """)
        for line in structure { print(line) }
        print("status:      ok")
    }
}
