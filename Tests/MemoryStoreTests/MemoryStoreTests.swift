import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

@Suite("MemoryStore")
struct MemoryStoreTests {
    @Test("data does not outlive the process's store: memory is volatile by design")
    func volatile() throws {
        let scratch = try ScratchDirectory("memory-volatile")
        let path = scratch.child("store")
        let store = try MemoryStore(directory: path, options: StoreOptions())
        try store.put(bytes("k"), bytes("v"))
        try store.close()
        let reopened = try MemoryStore(directory: path, options: StoreOptions())
        #expect(try reopened.get(bytes("k")) == nil)
        #expect(MemoryStore.descriptor.isPersistent == false)
        try reopened.close()
    }

    @Test("statistics track live bytes through overwrites and deletes")
    func liveBytes() throws {
        let store = MemoryStore()
        try store.put(bytes("abc"), bytes("12345"))
        try store.put(bytes("abc"), bytes("12"))
        try store.put(bytes("de"), bytes("1"))
        var statistics = try store.statistics()
        #expect(statistics.liveBytes == 3 + 2 + 2 + 1)
        #expect(statistics.keyCount == 2)
        try store.delete(bytes("abc"))
        try store.delete(bytes("missing"))
        statistics = try store.statistics()
        #expect(statistics.liveBytes == 3)
        #expect(statistics.keyCount == 1)
        #expect(statistics.fileCount == 0, "no directory, no files")
    }

    @Test("unknown engine settings are rejected with the setting's name")
    func unknownSetting() throws {
        let scratch = try ScratchDirectory("memory-settings")
        #expect {
            try MemoryStore(directory: scratch.child("s"), options: StoreOptions(settings: ["segment_size": "1MiB"]))
        } throws: { error in
            String(describing: error).contains("segment_size")
        }
    }
}
