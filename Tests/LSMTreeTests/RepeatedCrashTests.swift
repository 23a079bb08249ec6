@testable import LSMTree
import StoreCore
import StoreTestSupport
import Testing

@Suite("lsm repeated crashes")
struct RepeatedCrashTests {
    /// A crash, a reopen that replays the WAL into the memtable, and a second crash before any
    /// flush: the replayed commits live only in the first WAL, so the reopen must keep it.
    @Test("commits replayed after one crash survive a second crash before any flush", arguments: [Durability.none, .always])
    func crashTwice(durability: Durability) throws {
        let scratch = try ScratchDirectory("lsm-crash-twice")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let options = StoreOptions(durability: durability)
        var store = try LSMStore(directory: path, options: options)
        try store.put(numberedKey(1), [1])
        store.simulateCrash()
        store = try LSMStore(directory: path, options: options)
        #expect(try store.get(numberedKey(1)) == [1])
        try store.put(numberedKey(2), [2])
        store.simulateCrash()
        store = try LSMStore(directory: path, options: options)
        #expect(try store.get(numberedKey(1)) == [1], "the commit replayed after the first crash")
        #expect(try store.get(numberedKey(2)) == [2])
        store.simulateCrash()
        store = try LSMStore(directory: path, options: options)
        #expect(try store.get(numberedKey(1)) == [1] && store.get(numberedKey(2)) == [2], "and after a third")
        try store.close()
    }
}
