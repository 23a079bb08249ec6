import Foundation
@testable import LSMTree
import StoreCore
import StoreTestSupport
import Synchronization
import Testing

/// A one-shot signal between two test threads.
final class Signal: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .releasing) }
    func wait() { while !raised.load(ordering: .acquiring) { ConcurrentThreads.yield() } }
}

func sstFiles(_ path: String) throws -> Set<String> {
    Set(try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".sst") })
}

@Suite("lsm concurrency")
struct LSMConcurrencyTests {
    static let keys = 3000

    static func fill(_ store: LSMStore, version: Int) throws {
        for number in 0..<keys { try store.put(numberedKey(number), numberedValue(number, version: version, size: 60)) }
    }

    /// A scan holds its version while a full compaction rewrites every SST: the files it reads
    /// stay on disk until it ends, it reads the values of its snapshot throughout, and the files
    /// go once it has finished.
    @Test("a scan pinned on a version while compaction deletes its files reads its snapshot whole; the files go after it")
    func scanPinsVersion() throws {
        let scratch = try ScratchDirectory("lsm-pinned-scan")
        let path = scratch.child("store")
        let store = try openLSM(path, smallLSM)
        defer { try? store.close() }
        try Self.fill(store, version: 1)
        try store.compact()
        try store.waitForMaintenance()
        let before = try sstFiles(path)
        #expect(before.count > 3)
        let paused = Signal()
        let resume = Signal()
        let stillThere = Protected<Set<String>>([])
        try ConcurrentThreads.run(2) { thread in
            if thread == 0 {
                var seen = 0
                try store.scan(from: [], limit: .max) { key, value in
                    if seen == 10 {
                        paused.raise()
                        resume.wait()
                    }
                    let number = Int(String(decoding: key.dropFirst(3), as: UTF8.self))!
                    try expectEqual(Array(value), numberedValue(number, version: 1, size: 60), "key \(number) as of the scan's snapshot")
                    seen += 1
                }
                try expectEqual(seen, Self.keys, "the scan saw every key once")
                return
            }
            paused.wait()
            // New values for every key (one batch for the first ten, so the scan is past part of
            // it), then a full compaction that retires every SST the scan reads.
            var batch = WriteBatch()
            for number in 0..<20 { batch.put(numberedKey(number), numberedValue(number, version: 2, size: 60)) }
            try store.apply(batch)
            try Self.fill(store, version: 2)
            try store.compact()
            try store.waitForMaintenance()
            stillThere.withLock { $0 = before.intersection(try! sstFiles(path)) }
            resume.raise()
        }
        #expect(stillThere.withLock { $0 } == before, "every SST the scan's version names stayed on disk while it ran")
        try store.waitForMaintenance()
        #expect(try sstFiles(path).isDisjoint(with: before), "retired SSTs are unlinked once the scan let go")
        #expect(try store.get(numberedKey(5)) == numberedValue(5, version: 2, size: 60))
    }

    @Test("a get on a view taken before a compaction reads the old files, which stay open and on disk until the view goes")
    func viewPinsFiles() throws {
        let scratch = try ScratchDirectory("lsm-pinned-get")
        let path = scratch.child("store")
        let store = try openLSM(path, smallLSM)
        defer { try? store.close() }
        try Self.fill(store, version: 1)
        try store.compact()
        try store.waitForMaintenance()
        let before = try sstFiles(path)
        var pinned: (view: ReadView, snapshot: UInt64)? = try store.acquireView()
        try Self.fill(store, version: 2)
        try store.compact()
        try store.waitForMaintenance()
        #expect(before.isSubset(of: try sstFiles(path)), "the pinned view's files are still there")
        var value: [UInt8] = []
        for number in stride(from: 0, to: Self.keys, by: 7) {
            let found = try numberedKey(number).withUnsafeBytes { key in
                try pinned!.view.get(key, snapshot: pinned!.snapshot, cache: store.cache, into: &value)
            }
            #expect(found && value == numberedValue(number, version: 1, size: 60), "key \(number) through the old view")
        }
        pinned = nil
        try store.waitForMaintenance()
        #expect(try sstFiles(path).isDisjoint(with: before))
    }

    /// A get reads its view without retaining it, inside an epoch section: a view replaced meanwhile
    /// must not be released (nor its files unlinked) until the section ends.
    @Test("a view replaced while a get reads it unretained stays whole until the get leaves its epoch section")
    func epochSectionHoldsView() throws {
        let scratch = try ScratchDirectory("lsm-epoch-view")
        let path = scratch.child("store")
        let store = try openLSM(path, smallLSM)
        defer { try? store.close() }
        try Self.fill(store, version: 1)
        try store.compact()
        try store.waitForMaintenance()
        let before = try sstFiles(path)
        weak var released: ReadView?
        try store.withView { view, snapshot in
            released = view
            // Another thread replaces every file and publishes new views meanwhile.
            try ConcurrentThreads.run(1) { _ in
                try Self.fill(store, version: 2)
                try store.compact()
            }
            #expect(store.lock.withLock { !store.retiredViews.isEmpty }, "the replaced view waits for this section")
            #expect(before.isSubset(of: try sstFiles(path)), "its files are still on disk")
            var value: [UInt8] = []
            for number in stride(from: 0, to: Self.keys, by: 11) {
                let found = try numberedKey(number).withUnsafeBytes { try view.get($0, snapshot: snapshot, cache: store.cache, into: &value) }
                #expect(found && value == numberedValue(number, version: 1, size: 60), "key \(number) through the old view")
            }
        }
        try store.waitForMaintenance()
        #expect(released == nil, "released once the section ended")
        #expect(store.lock.withLock { store.retiredViews.isEmpty })
        #expect(try sstFiles(path).isDisjoint(with: before))
    }

    @Test("8 writers under durability always: far fewer syncs than commits, every commit durable")
    func groupCommit() throws {
        let scratch = try ScratchDirectory("lsm-group-commit")
        let path = scratch.child("store")
        let store = try openLSM(path, durability: .always)
        let threads = 8
        let perThread = 150
        let syncsBefore = store.metrics.snapshot().syncs
        let groupsBefore = store.writeGroups
        try ConcurrentThreads.run(threads) { thread in
            for index in 0..<perThread {
                if index % 10 == 0 {
                    var batch = WriteBatch()
                    batch.put(numberedKey(index, prefix: "t\(thread)/"), numberedValue(index))
                    batch.put(numberedKey(index + perThread, prefix: "t\(thread)/"), numberedValue(index))
                    try store.apply(batch)
                } else {
                    try store.put(numberedKey(index, prefix: "t\(thread)/"), numberedValue(index))
                }
            }
        }
        let commits = threads * perThread
        let syncs = store.metrics.snapshot().syncs - syncsBefore
        let groups = store.writeGroups.groups - groupsBefore.groups
        #expect(syncs >= groups - 1 && syncs <= groups + 2, "one WAL sync per group: \(syncs) syncs, \(groups) groups")
        #expect(Double(syncs) < Double(commits) / 2, "\(syncs) syncs for \(commits) commits")
        // Acknowledged commits are on disk: a crash copy of the directory holds them all.
        let (copy, _) = try crashCopy(of: path, closing: store, to: scratch.child("copy"))
        let reopened = try openLSM(copy)
        defer { try? reopened.close() }
        for thread in 0..<threads {
            for index in 0..<perThread {
                #expect(try reopened.get(numberedKey(index, prefix: "t\(thread)/")) == numberedValue(index))
                if index % 10 == 0 { #expect(try reopened.get(numberedKey(index + perThread, prefix: "t\(thread)/")) == numberedValue(index)) }
            }
        }
    }

    @Test("with many writers and small triggers, stalls and slowdowns are recorded as events that blocked writers, and nothing is lost")
    func stallsWithManyWriters() throws {
        let scratch = try ScratchDirectory("lsm-stalls")
        let store = try openLSM(scratch.child("store"), [
            "write_buffer_size": "16KiB", "l0_compaction_trigger": "2", "l0_slowdown_trigger": "3", "l0_stop_trigger": "4",
            "level1_size": "64KiB", "target_file_size": "16KiB", "block_size": "1KiB",
        ])
        defer { try? store.close() }
        let threads = 6
        let perThread = 1500
        try ConcurrentThreads.run(threads) { thread in
            for index in 0..<perThread {
                try store.put(numberedKey(index, prefix: "w\(thread)/"), numberedValue(index, version: thread, size: 100))
            }
        }
        try store.waitForMaintenance()
        let blocking = store.metrics.events().filter { $0.blockedWriters }
        #expect(blocking.contains { $0.kind == "stall" || $0.kind == "slowdown" }, "\(store.metrics.events().count) events")
        #expect(blocking.allSatisfy { $0.kind == "stall" || $0.kind == "slowdown" })
        for thread in 0..<threads {
            for index in stride(from: 0, to: perThread, by: 13) {
                #expect(try store.get(numberedKey(index, prefix: "w\(thread)/")) == numberedValue(index, version: thread, size: 100))
            }
        }
    }

    @Test("sync, compact and waitForMaintenance from other threads while writers and readers run")
    func mixedCalls() throws {
        let scratch = try ScratchDirectory("lsm-mixed")
        let store = try openLSM(scratch.child("store"), durability: .interval, smallLSM)
        defer { try? store.close() }
        let done = Atomic<Int>(0)
        try ConcurrentThreads.run(5) { thread in
            switch thread {
            case 0, 1:
                defer { done.add(1, ordering: .releasing) }
                for index in 0..<2000 { try store.put(numberedKey(index, prefix: "m\(thread)/"), numberedValue(index, version: thread)) }
            case 2:
                var value: [UInt8] = []
                while done.load(ordering: .acquiring) < 2 {
                    for index in stride(from: 0, to: 2000, by: 37) {
                        if try store.get(numberedKey(index, prefix: "m0/"), into: &value) {
                            try expectEqual(value, numberedValue(index, version: 0), "m0/\(index)")
                        }
                    }
                }
            case 3:
                while done.load(ordering: .acquiring) < 2 { try store.sync() }
            default:
                while done.load(ordering: .acquiring) < 2 {
                    try store.compact()
                    try store.waitForMaintenance()
                }
            }
        }
        for thread in 0..<2 {
            for index in 0..<2000 {
                #expect(try store.get(numberedKey(index, prefix: "m\(thread)/")) == numberedValue(index, version: thread))
            }
        }
    }

    @Test("a simulated crash while writers run leaves a store that reopens with whole commits only")
    func crashWhileWriting() throws {
        let scratch = try ScratchDirectory("lsm-crash-busy")
        let path = scratch.child("store")
        let store = try openLSM(path, smallLSM)
        let started = Atomic<Int>(0)
        try ConcurrentThreads.run(4) { thread in
            if thread == 3 {
                while started.load(ordering: .acquiring) < 3 { ConcurrentThreads.yield() }
                usleep(20_000)
                store.simulateCrash()
                return
            }
            started.add(1, ordering: .releasing)
            var index = 0
            while true {
                var batch = WriteBatch()
                batch.put(numberedKey(index, prefix: "a\(thread)/"), numberedValue(index))
                batch.put(numberedKey(index, prefix: "b\(thread)/"), numberedValue(index))
                do { try store.apply(batch) } catch StoreError.closed { return }
                index += 1
            }
        }
        let reopened = try openLSM(path, smallLSM)
        defer { try? reopened.close() }
        var halves: [String: Int] = [:]
        try reopened.scan(from: [], limit: .max) { key, _ in
            let name = String(decoding: key, as: UTF8.self)
            halves[String(name.dropFirst())] = (halves[String(name.dropFirst())] ?? 0) + 1
        }
        #expect(!halves.isEmpty)
        #expect(halves.values.allSatisfy { $0 == 2 }, "every batch whole")
    }
}
