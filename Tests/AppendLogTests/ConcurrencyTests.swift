@testable import AppendLog
import FaultInjection
import Foundation
import StoreCore
import StoreTestSupport
import Synchronization
import Testing

/// A value that names its key and version and fills the rest with bytes derived from both, so a
/// reader can tell a real value from bytes of another record (or of another file).
private enum VersionedValue {
    static let size = 48

    static func bytes(key: Int, version: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size)
        withUnsafeBytes(of: UInt32(key).littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(version).littleEndian) { out.append(contentsOf: $0) }
        var state = UInt64(key) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(version) &* 0xC2B2_AE3D_27D4_EB4F
        while out.count < size {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out.append(UInt8(truncatingIfNeeded: state >> 33))
        }
        return out
    }

    /// The version `value` holds for `key`, or `nil` when it is not a value written for `key`.
    static func version(of value: [UInt8], key: Int) -> Int? {
        guard value.count == size else { return nil }
        let storedKey = value[0..<4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self).littleEndian }
        let version = Int(value[4..<8].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self).littleEndian })
        guard storedKey == UInt32(key), bytes(key: key, version: version) == value else { return nil }
        return version
    }
}

/// Flags and counters the threads of a test share.
private final class Flag: Sendable {
    private let value = Atomic<Int>(0)
    func set(_ to: Int = 1) { value.store(to, ordering: .releasing) }
    func add() { value.add(1, ordering: .acquiringAndReleasing) }
    var get: Int { value.load(ordering: .acquiring) }
}

/// Messages from the threads of a test. (A pthread `Lock` rather than `Mutex`: Thread Sanitizer
/// sees the happens-before edges of the one and not of the other on Linux.)
private final class Failures: @unchecked Sendable {
    private let lock = Lock()
    private var messages: [String] = []
    func record(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}

/// The newest acknowledged version of each key.
private final class Acknowledged: @unchecked Sendable {
    private let lock = Lock()
    private var versions: [Int: Int] = [:]
    func set(_ key: Int, _ version: Int) { lock.withLock { versions[key] = version } }
    var all: [Int: Int] { lock.withLock { versions } }
}

@Suite("log: concurrency")
struct AppendLogConcurrencyTests {
    @Test("readers during merges and compactions that retire segments always read the right value", arguments: ["incremental", "full"])
    func readersDuringMerges(mode: String) throws {
        let scratch = try ScratchDirectory("log-readers-merge")
        let store = try openLog(scratch.child("store"), [
            "compaction_mode": mode, "segment_size": "4KiB", "compaction_min_dead": "0",
            "compaction_ratio": "0.3", "merge_fragmentation": "0.3",
        ])
        let keys = 300
        for index in 0..<keys { try store.put(key(index), VersionedValue.bytes(key: index, version: 0)) }
        let writersDone = Flag()
        let rounds = Flag()
        let failures = Failures()
        let removedBefore = store.metrics.snapshot().filesRemoved
        // One writer overwrites keys with rising versions (so segments fill with dead records and
        // merges retire them) until enough merge rounds ran beside it; one thread forces merges
        // and compactions; three read.
        try ConcurrentThreads.run(5) { thread in
            switch thread {
            case 0:
                defer { writersDone.set() }
                var random = SeededRandom(seed: 77)
                var versions = [Int](repeating: 0, count: keys)
                var writes = 0
                while writes < 2_000 || (rounds.get < 9 && writes < 200_000) {
                    let index = random.below(keys)
                    versions[index] += 1
                    try store.put(key(index), VersionedValue.bytes(key: index, version: versions[index]))
                    writes += 1
                }
            case 1:
                var round = 0
                while writersDone.get == 0 {
                    round += 1
                    if round % 3 == 0 { try store.compact() } else { try store.mergeNow() }
                    rounds.add()
                }
            default:
                var random = SeededRandom(seed: UInt64(thread))
                var seen = [Int](repeating: 0, count: keys)
                var value: [UInt8] = []
                while writersDone.get == 0 {
                    let index = random.below(keys)
                    guard try store.get(key(index), into: &value) else {
                        failures.record("key \(index) missing")
                        return
                    }
                    guard let version = VersionedValue.version(of: value, key: index) else {
                        failures.record("key \(index): bytes no writer wrote")
                        return
                    }
                    if version < seen[index] {
                        failures.record("key \(index): version \(version) after \(seen[index])")
                        return
                    }
                    seen[index] = version
                }
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
        let events = store.metrics.events().filter { $0.kind == "merge" || $0.kind == "compaction" }
        #expect(events.count >= 3, "merges and compactions ran: \(events.count)")
        #expect(store.metrics.snapshot().filesRemoved - removedBefore >= 3, "segments were retired while readers ran")
        try store.close()
    }

    /// The reader is stopped between its lookup (segment pinned, lock released) and its pread while
    /// a full compaction moves the key and retires the segment: the compaction must wait for it,
    /// the file must stay until then, and the reader must get the bytes it looked up.
    @Test("a reader pinned on a segment keeps it open and in place while compaction retires it")
    func pinnedReaderHoldsRetiredSegment() throws {
        let scratch = try ScratchDirectory("log-pinned")
        let path = scratch.child("store")
        let store = try openLog(path, ["compaction_policy": "manual", "segment_size": "4KiB"])
        for index in 0..<100 { try store.put(key(index), VersionedValue.bytes(key: index, version: 1)) }
        for index in 0..<50 { try store.put(key(index), VersionedValue.bytes(key: index, version: 2)) }
        let target = 75  // version 1 lives in an old sealed segment
        let oldSegments = Set(store.segmentSummaries().map(\.id))
        // Nothing else runs yet: the keydir can be read directly.
        let pinnedSegment = try #require(store.keydir.value(forKey: key(target)).flatMap { store.segments[Int($0.segment)]?.id })
        let compacted = Flag()
        let observations = Failures()
        store.afterPinHook = { store in
            store.afterPinHook = nil
            let thread = Thread { _ = try? store.compact(); compacted.set() }
            thread.start()
            // Wait until the compaction has swapped the table (no old segment left in it)...
            var waited = 0
            while Set(store.segmentSummaries().map(\.id)).intersection(oldSegments).count > 0 && waited < 10_000 {
                usleep(1000)
                waited += 1
            }
            usleep(50_000)
            // ...then it must be waiting on this reader's pin: done, it would have unlinked the files.
            if compacted.get != 0 { observations.record("compaction finished while a reader held a pin") }
            let remaining = (try? segmentFiles(path)) ?? []
            if !remaining.contains(Segment.fileName(pinnedSegment)) { observations.record("the pinned segment was unlinked under its reader: \(remaining)") }
        }
        var value: [UInt8] = []
        #expect(try store.get(key(target), into: &value))
        #expect(VersionedValue.version(of: value, key: target) == 1)
        var waited = 0
        while compacted.get == 0 && waited < 10_000 {
            usleep(1000)
            waited += 1
        }
        #expect(compacted.get != 0, "the compaction finished once the reader was done")
        #expect(observations.all.isEmpty, "\(observations.all)")
        let remaining = try segmentFiles(path)
        #expect(oldSegments.allSatisfy { !remaining.contains(Segment.fileName($0)) }, "old segments unlinked after the reader left: \(remaining)")
        #expect(try store.get(key(target)) == VersionedValue.bytes(key: target, version: 1))
        try store.close()
    }

    @Test("close waits for a reader between its lookup and its pread")
    func closeWaitsForPinnedReader() throws {
        let scratch = try ScratchDirectory("log-close-pinned")
        let store = try openLog(scratch.child("store"))
        try store.put(key(1), VersionedValue.bytes(key: 1, version: 9))
        let closed = Flag()
        let observations = Failures()
        store.afterPinHook = { store in
            store.afterPinHook = nil
            let thread = Thread { _ = try? store.close(); closed.set() }
            thread.start()
            usleep(100_000)
            if closed.get != 0 { observations.record("close returned while a reader held a pin") }
        }
        var value: [UInt8] = []
        #expect(try store.get(key(1), into: &value))
        #expect(VersionedValue.version(of: value, key: 1) == 9)
        var waited = 0
        while closed.get == 0 && waited < 10_000 {
            usleep(1000)
            waited += 1
        }
        #expect(closed.get != 0)
        #expect(observations.all.isEmpty, "\(observations.all)")
        #expect(throws: StoreError.self) { try store.get(key(1)) }
    }

    @Test("group commit: 8 writers under durability always share fsyncs, and every commit is durable")
    func groupCommitSharesSyncs() throws {
        let scratch = try ScratchDirectory("log-group-commit")
        let path = scratch.child("store")
        let store = try openLog(path, durability: .always)
        let threads = 8
        let perThread = 150
        let syncsBefore = store.metrics.snapshot().syncs
        try ConcurrentThreads.run(threads) { thread in
            for index in 0..<perThread {
                let k = thread * perThread + index
                if index % 10 == 0 {
                    var batch = WriteBatch()
                    batch.put(key(k), VersionedValue.bytes(key: k, version: 1))
                    batch.put(key(100_000 + k), VersionedValue.bytes(key: k, version: 2))
                    try store.apply(batch)
                } else {
                    try store.put(key(k), VersionedValue.bytes(key: k, version: 1))
                }
            }
        }
        let commits = threads * perThread
        let syncs = store.metrics.snapshot().syncs - syncsBefore
        let (groups, requests) = store.writers.counts
        #expect(requests >= commits)
        #expect(syncs * 2 < commits, "\(syncs) fsyncs for \(commits) commits in \(groups) groups")
        #expect(groups * 2 < requests, "\(groups) groups for \(requests) commits")
        try store.close()
        let reopened = try openLog(path)
        for k in 0..<commits {
            #expect(try reopened.get(key(k)) == VersionedValue.bytes(key: k, version: 1))
            if k % perThread % 10 == 0 {
                #expect(try reopened.get(key(100_000 + k)) == VersionedValue.bytes(key: k, version: 2))
            }
        }
        try reopened.close()
    }

    @Test("power loss under concurrent writers with durability always keeps every acknowledged commit")
    func powerLossUnderConcurrentWriters() throws {
        var random = SeededRandom(seed: 0x6C0C)
        for trial in 0..<6 {
            let scratch = try ScratchDirectory("log-power-group")
            let path = scratch.child("store")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let power = try PowerLossFileSystem(directory: path)
            let store = try openLog(path, durability: .always, fileSystem: power, ["segment_size": "8KiB"])
            let acknowledged = Acknowledged()
            power.arm(powerLossAt: 20 + random.below(300))
            try ConcurrentThreads.run(4) { thread in
                for index in 0..<200 {
                    let k = thread * 1000 + index % 50
                    do {
                        try store.put(key(k), VersionedValue.bytes(key: k, version: index))
                    } catch is StoreError {
                        return
                    }
                    acknowledged.set(k, index)
                }
            }
            if !power.isDead { try power.powerLoss() }
            _ = try? store.close()
            let reopened = try openLog(path)
            let want = acknowledged.all
            for (k, version) in want {
                // The newest acknowledged version, or a later one that was in flight.
                let got = try reopened.get(key(k)).flatMap { VersionedValue.version(of: $0, key: k) }
                #expect(got.map { $0 >= version } == true, "trial \(trial): key \(k) acknowledged at version \(version), reopened with \(String(describing: got))")
            }
            try reopened.close()
        }
    }

    @Test("sync() makes sealed segments durable too under durability none")
    func syncCoversSealedSegments() throws {
        let scratch = try ScratchDirectory("log-sync-sealed")
        let path = scratch.child("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let power = try PowerLossFileSystem(directory: path)
        let store = try openLog(path, durability: .none, fileSystem: power, ["segment_size": "4KiB", "compaction_policy": "manual"])
        for index in 0..<200 { try store.put(key(index), VersionedValue.bytes(key: index, version: 3)) }
        #expect(store.segmentSummaries().count >= 3, "the puts filled several segments")
        try store.sync()
        try power.powerLoss()
        _ = try? store.close()
        let reopened = try openLog(path)
        for index in 0..<200 {
            #expect(try reopened.get(key(index)) == VersionedValue.bytes(key: index, version: 3), "key \(index) after sync and power loss")
        }
        try reopened.close()
    }
}
