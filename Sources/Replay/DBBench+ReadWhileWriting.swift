import StoreCore
import Synchronization
import Workload

extension DBBench {
    /// `readwhilewriting`: `threads` reader threads share `num` random reads while one more thread
    /// overwrites random keys until the readers are done (as db_bench runs it). Reads are checked
    /// against the writer's progress: a read must return a version at least as new as the one
    /// the writer had acknowledged when the read began, and at most the one it was writing when
    /// the read ended — never a value that was not written, nor an acknowledged one lost.
    mutating func readWhileWriting(on store: any Store, engine: String) throws -> Result {
        let configuration = configuration
        let num = configuration.num
        let readers = configuration.threads
        let table = AtomicVersions(versions)
        let done = Atomic<Int>(0)
        let writes = Atomic<Int>(0)
        let pool = pool
        let workers = (0..<readers).map { PhaseWorker(thread: $0, random: randoms[$0], keySize: configuration.keySize) }
        let writerRandom = SeededRandom(seed: configuration.seed ^ 0x5752_4954_4552, stream: 1)
        let start = MonotonicClock.now()
        try ConcurrentThreads.run(readers + 1) { thread in
            if thread == readers {
                // The writer: overwrites until every reader has finished.
                var random = writerRandom
                var key = [UInt8](repeating: 0, count: configuration.keySize)
                var value: [UInt8] = []
                var count = 0
                defer { writes.store(count, ordering: .releasing) }
                while done.load(ordering: .acquiring) < readers {
                    let number = random.below(num)
                    let current = table.load(number)
                    let version: UInt8 = current == 255 ? 1 : current + 1
                    DBBenchKey.write(number, into: &key)
                    let from = DBBench.valueStart(number, version)
                    value.removeAll(keepingCapacity: true)
                    value.append(contentsOf: pool[from..<(from + configuration.valueSize)])
                    try store.put(Array(key), value)
                    table.store(number, version)
                    count += 1
                }
                return
            }
            defer { done.add(1, ordering: .releasing) }
            let worker = workers[thread]
            let count = num / readers + (thread < num % readers ? 1 : 0)
            var hits = 0
            for _ in 0..<count {
                let number = worker.random.below(num)
                DBBenchKey.write(number, into: &worker.key)
                let before = table.load(number)
                let hit = try store.get(worker.key, into: &worker.readBuffer)
                let after = table.load(number)
                guard hit else {
                    guard before == 0 else {
                        throw StoreError.corrupted(file: engine, offset: Int64(number), reason: "key #\(number): an acknowledged write was not found")
                    }
                    worker.operations += 1
                    continue
                }
                // Versions the read may return: from the one acknowledged before it to the one
                // being written after it (versions wrap from 255 to 1).
                var candidate = before == 0 ? 1 : before
                let last: UInt8 = after == 255 ? 1 : after + 1
                var matched = false
                for _ in 0..<256 {
                    if worker.readBuffer.withUnsafeBytes({ (try? DBBench.check(number, $0, version: candidate, size: configuration.valueSize, pool: pool)) != nil }) {
                        matched = true
                        break
                    }
                    if candidate == last { break }
                    candidate = candidate == 255 ? 1 : candidate + 1
                }
                guard matched else {
                    throw StoreError.corrupted(file: engine, offset: Int64(number),
                                               reason: "key #\(number): a read returned bytes of no version written between \(before) and \(last)")
                }
                hits += 1
                worker.operations += 1
            }
            worker.found = hits
        }
        let seconds = MonotonicClock.seconds(since: start)
        for worker in workers { randoms[worker.thread] = worker.random }
        versions = table.values
        var result = Result(phase: Phase.readwhilewriting.description, operations: workers.reduce(0) { $0 + $1.operations },
                            seconds: seconds, found: workers.reduce(0) { $0 + ($1.found ?? 0) })
        result.threads = readers
        let written = writes.load(ordering: .acquiring)
        result.note = "+1 writer: \(written) overwrites, \(Int(Double(written) / max(seconds, 1e-9))) /s"
        return result
    }

    /// The version table for a phase where one thread writes while others read: each entry an
    /// atomic, so a reader sees the writer's acknowledged versions.
    final class AtomicVersions: @unchecked Sendable {
        private let entries: UnsafeMutablePointer<Atomic<UInt8>>
        let count: Int

        init(_ values: [UInt8]) {
            count = values.count
            entries = .allocate(capacity: max(1, count))
            for index in 0..<count { (entries + index).initialize(to: Atomic(values[index])) }
        }

        deinit {
            entries.deinitialize(count: count)
            entries.deallocate()
        }

        @inline(__always)
        func load(_ index: Int) -> UInt8 { entries[index].load(ordering: .acquiring) }

        @inline(__always)
        func store(_ index: Int, _ value: UInt8) { entries[index].store(value, ordering: .releasing) }

        var values: [UInt8] { (0..<count).map { load($0) } }
    }
}
