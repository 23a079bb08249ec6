import StoreCore
import Synchronization
import Workload

/// The threads of a data phase: what they share and what each one keeps.
extension DBBench {
    /// The parts of a phase every thread reads.
    final class PhaseContext: Sendable {
        let configuration: Configuration
        let phase: Phase
        let store: any Store
        let engine: String
        let pool: [UInt8]
        /// Set when a thread failed: the others stop early instead of finishing the phase.
        private let stopped = Atomic<Bool>(false)

        init(configuration: Configuration, phase: Phase, store: any Store, engine: String, pool: [UInt8]) {
            self.configuration = configuration
            self.phase = phase
            self.store = store
            self.engine = engine
            self.pool = pool
        }

        func stop() { stopped.store(true, ordering: .relaxed) }
        var isStopped: Bool { stopped.load(ordering: .relaxed) }
    }

    /// The version table, shared by the threads of a phase. Threads write only the key numbers
    /// they own, and no phase reads while another thread writes, so no two threads touch one
    /// element at once.
    struct SharedVersions: @unchecked Sendable {
        let base: UnsafeMutablePointer<UInt8>
        init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { base = buffer.baseAddress! }
        subscript(number: Int) -> UInt8 {
            get { base[number] }
            nonmutating set { base[number] = newValue }
        }
    }

    /// One thread's state in a phase: its generator, buffers and counts.
    final class PhaseWorker: @unchecked Sendable {
        let thread: Int
        var random: SeededRandom
        var key: [UInt8]
        var value: [UInt8] = []
        var readBuffer: [UInt8] = []
        var operations = 0
        var found: Int?
        var commits = 0

        init(thread: Int, random: SeededRandom, keySize: Int) {
            self.thread = thread
            self.random = random
            key = [UInt8](repeating: 0, count: keySize)
        }

        /// This thread's share of `total` operations.
        private func share(_ total: Int, threads: Int) -> Int {
            total / threads + (thread < total % threads ? 1 : 0)
        }

        func run(_ context: PhaseContext, versions: SharedVersions) throws {
            let configuration = context.configuration
            let threads = configuration.threads
            let num = configuration.num
            let store = context.store
            let engine = context.engine
            func mismatch(_ number: Int, _ what: String) -> StoreError {
                .corrupted(file: engine, offset: Int64(number), reason: "key #\(number): \(what)")
            }
            func check(_ number: Int, _ value: UnsafeRawBufferPointer) throws {
                try DBBench.check(number, value, version: versions[number], size: configuration.valueSize, pool: context.pool)
            }
            // Key numbers this thread owns for writes: ≡ thread (mod threads).
            let owned = (num - thread + threads - 1) / threads

            switch context.phase {
            case .fillseq, .fillrandom, .overwrite, .overwriteCount:
                var total = num
                if case let .overwriteCount(count) = context.phase { total = count }
                let count = share(total, threads: threads)
                // fillseq: a contiguous range of numbers per thread, in order.
                let first = (num / threads) * thread + min(thread, num % threads)
                var batch = WriteBatch()
                for index in 0..<count {
                    if index & 1023 == 0 && context.isStopped { break }
                    let number: Int
                    if context.phase == .fillseq {
                        number = first + index
                    } else {
                        guard owned > 0 else { break }
                        number = thread + threads * random.below(owned)
                    }
                    DBBenchKey.write(number, into: &key)
                    let version = versions[number] == 255 ? 1 : versions[number] + 1
                    let from = DBBench.valueStart(number, version)
                    value.removeAll(keepingCapacity: true)
                    value.append(contentsOf: context.pool[from..<(from + configuration.valueSize)])
                    versions[number] = version
                    operations += 1
                    // In-memory indexes keep the key array: hand over a fresh copy, not our buffer.
                    if configuration.batchSize == 1 {
                        try store.put(Array(key), value)
                        commits += 1
                        continue
                    }
                    batch.put(Array(key), value)
                    if batch.count == configuration.batchSize || index == count - 1 {
                        try store.apply(batch)
                        commits += 1
                        batch.removeAll()
                    }
                }
            case .readrandom:
                var hits = 0
                for index in 0..<share(num, threads: threads) {
                    if index & 1023 == 0 && context.isStopped { break }
                    let number = random.below(num)
                    DBBenchKey.write(number, into: &key)
                    let hit = try store.get(key, into: &readBuffer)
                    guard hit == (versions[number] != 0) else {
                        throw mismatch(number, hit ? "a deleted or never written key was found" : "a written key was not found")
                    }
                    if hit {
                        try readBuffer.withUnsafeBytes { try check(number, $0) }
                        hits += 1
                    }
                    operations += 1
                }
                found = hits
            case .readseq:
                // Every thread reads the whole store, as db_bench's readseq does per thread.
                var expected = 0
                let visited = try store.scan(from: [], limit: Int.max) { key, value in
                    let number = DBBenchKey.number(key)
                    guard number < num else { throw mismatch(number, "a key that was never written in a full scan") }
                    while expected < number {
                        if versions[expected] != 0 { throw mismatch(expected, "missing from a full scan") }
                        expected += 1
                    }
                    guard versions[number] != 0 else { throw mismatch(number, "a deleted key in a full scan") }
                    try check(number, value)
                    expected = number + 1
                }
                while expected < num {
                    if versions[expected] != 0 { throw mismatch(expected, "missing from a full scan") }
                    expected += 1
                }
                operations = visited
                found = visited
            case .seekrandom:
                var hits = 0
                for index in 0..<share(max(1, num / 10), threads: threads) {
                    if index & 1023 == 0 && context.isStopped { break }
                    DBBenchKey.write(random.below(num), into: &key)
                    var previous = -1
                    let visited = try store.scan(from: key, limit: configuration.seekNexts) { key, value in
                        let number = DBBenchKey.number(key)
                        guard number > previous, number < num, versions[number] != 0 else {
                            throw mismatch(number, "a scan returned keys out of order, or a deleted key")
                        }
                        try check(number, value)
                        previous = number
                    }
                    if visited > 0 { hits += 1 }
                    operations += 1
                }
                found = hits
            case .deleterandom:
                for index in 0..<share(num, threads: threads) {
                    if index & 1023 == 0 && context.isStopped { break }
                    guard owned > 0 else { break }
                    let number = thread + threads * random.below(owned)
                    DBBenchKey.write(number, into: &key)
                    try store.delete(key)
                    versions[number] = 0
                    operations += 1
                    commits += 1
                }
            case .compact, .reopen, .reopenAfterCrash, .readwhilewriting:
                preconditionFailure("\(context.phase) is not a data phase")
            }
        }
    }
}
