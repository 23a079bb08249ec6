import StoreCore

extension AppendLogStore {
    /// Accumulates compaction output into segment files of at most `segment_size` bytes, each with
    /// its hint, written to temporary names until `install`.
    struct OutputWriter {
        let store: AppendLogStore
        let firstId: UInt64
        let lastAllowedId: UInt64
        var files: [(id: UInt64, file: DurableFile, size: Int, hint: OrderedKeyMap<HintFile.Entry>, tombstoneBytes: Int)] = []
        var buffer: [UInt8] = []
        var bytesWritten = 0

        /// Output ids start above every segment in the block of the newest input, so they replay
        /// after every input (and after unmerged segments of that block, which hold none of the
        /// copied keys: a copied record is its key's newest) and before the next block. Call
        /// holding `stateLock`.
        init(store: AppendLogStore, above maxInputId: UInt64) {
            self.store = store
            let block = maxInputId / Segment.idBlock
            let highestInBlock = store.segments.compactMap { $0?.id }.filter { $0 / Segment.idBlock == block }.max() ?? maxInputId
            firstId = max(maxInputId, highestInBlock) + 1
            lastAllowedId = (block + 1) * Segment.idBlock - 1
            buffer.reserveCapacity(1 << 20)
        }

        /// Appends one record; returns the output index and offset it landed at.
        mutating func append(_ record: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, isTombstone: Bool) throws -> (output: Int, offset: Int) {
            if files.isEmpty || (files[files.count - 1].size > 0 && files[files.count - 1].size + record.count > store.settings.segmentSize) {
                try startFile()
            }
            let index = files.count - 1
            let offset = files[index].size
            let start = buffer.count
            buffer.append(contentsOf: record)
            // A record copied out of a batch leaves its commit record behind: mark it
            // self-committing (and checksum it again), so the output replays without its hint.
            store.settings.format.markSelfCommitting(&buffer, start: start, count: record.count)
            files[index].size += record.count
            files[index].hint.insert(HintFile.Entry(isTombstone: isTombstone, offset: UInt32(offset), length: UInt32(record.count)), forKey: key)
            if isTombstone { files[index].tombstoneBytes += record.count }
            if buffer.count >= 1 << 20 { try flush() }
            return (index, offset)
        }

        private mutating func startFile() throws {
            try flush()
            let id = firstId + UInt64(files.count)
            guard id <= lastAllowedId else {
                throw StoreError.unsupported("compaction output ids exhausted above segment \(firstId - 1)")
            }
            let file = try store.storage.create(Segment.fileName(id) + StorageDirectory.temporarySuffix)
            files.append((id, file, 0, OrderedKeyMap(), 0))
        }

        /// Writes buffered bytes to the current output file.
        mutating func flush() throws {
            guard let last = files.last, !buffer.isEmpty else { return }
            try last.file.write(buffer, at: Int64(last.size - buffer.count))
            bytesWritten += buffer.count
            buffer.removeAll(keepingCapacity: true)
        }

        /// Syncs every output, renames it into place, writes its hint; returns the installed
        /// segments' ids, files (reopened under the final names) and sizes.
        mutating func install() throws -> [(id: UInt64, file: DurableFile, size: Int)] {
            try flush()
            var installed: [(id: UInt64, file: DurableFile, size: Int)] = []
            for output in files {
                try output.file.sync()
                output.file.close()
                let name = Segment.fileName(output.id)
                guard try !store.storage.exists(name) else {
                    throw StoreError.corrupted(file: store.storage.path(of: name), offset: 0, reason: "compaction output would replace an existing segment")
                }
                try store.storage.rename(name + StorageDirectory.temporarySuffix, to: name)
                // Every record of an output is distinct by key, so entries and records coincide.
                let hint = HintFile.encode(output.hint, recordCount: output.hint.count, tombstoneBytes: output.tombstoneBytes, segmentBytes: output.size)
                try store.storage.writeAtomically(Segment.hintName(output.id), contents: hint)
                bytesWritten += hint.count
                installed.append((output.id, try store.storage.open(name), output.size))
            }
            return installed
        }

        /// Removes outputs not yet installed (after a failure).
        func abandon() {
            for output in files {
                output.file.close()
                try? store.storage.remove(Segment.fileName(output.id) + StorageDirectory.temporarySuffix)
            }
        }
    }

    // MARK: Full compaction

    public func compact() throws {
        try compactFully(trigger: "manual")
    }

    /// Stop-the-world compaction: seals the active segment, rewrites every live record in key
    /// order into new segments, drops every tombstone, installs the output and removes the old
    /// segments. Writers wait for it (it holds `writeLock`): it is recorded as a blocking
    /// `compaction` event. Readers go on: the copy holds `stateLock` only shared, the swap holds
    /// it exclusively for in-memory work, and the old files go once no reader has them pinned.
    /// A policy-triggered run first checks that the policy still asks for it (another writer's
    /// run may have come first) and does nothing on a closed store.
    func compactFully(trigger: String) throws {
        try maintenanceLock.withLock {
            writeLock.lock()
            var holdingWriteLock = true
            defer { if holdingWriteLock { writeLock.unlock() } }
            if trigger == "policy" {
                guard isOpen, failure == nil, stateLock.withSharedLock({ shouldCompact() }) else { return }
            } else {
                try checkUsable()
            }
            // The keydir and the segment table change only under `writeLock` (writers) or
            // `maintenanceLock` (merges): both are held, so what is read here stays true.
            let (inputs, writerOrNil) = stateLock.withSharedLock { () -> ([Segment], OutputWriter?) in
                let inputs = segments.compactMap { $0 }.sorted { $0.id < $1.id }
                guard let maxInputId = inputs.last?.id else { return (inputs, nil) }
                return (inputs, OutputWriter(store: self, above: maxInputId))
            }
            guard var writer = writerOrNil else { return }
            let start = metrics.startMaintenance()
            var finished = false
            defer { if !finished { metrics.abandonMaintenance() } }
            var placements: [(output: Int, offset: Int)] = []
            var bytesRead = 0
            do {
                var buffer: [UInt8] = []
                try stateLock.withSharedLock {
                    placements.reserveCapacity(keydir.count)
                    try keydir.forEach(from: nil) { key, location in
                        try readWholeRecord(at: location, buffer: &buffer) { record in
                            bytesRead += record.count
                            let placed = try writer.append(record, key: key, isTombstone: false)
                            placements.append(placed)
                        }
                        return true
                    }
                }
            } catch {
                writer.abandon()
                throw error
            }
            // The outputs hold commits no sync may have covered yet (durability interval or
            // none) but not the tombstones they dropped: sync those inputs first (after the
            // tombstones), so that a power loss cannot keep an older input (its unlink not yet
            // durable) while losing the unsynced tombstone that hides its stale put. The active
            // segment is synced whatever its `needsSync` says: the interval thread clears the
            // flag before its own fsync ends.
            try stoppingOnFailure(holdingWriteLock: true) {
                try syncTombstonesIfNeeded()
                for input in inputs where input.needsSync || (input === active && durability != .always && input.size > 0) {
                    try input.file.syncData()
                    input.needsSync = false
                }
            }
            // Some outputs may be in place after a failure: the files still replay correctly,
            // but memory no longer knows every segment.
            let installed = try stoppingOnFailure(holdingWriteLock: true) { try writer.install() }
            // The next active segment takes the next block's id, above every output.
            let activeId = nextBlockId
            // The old active segment is an input: its filler stops and its zeros go before it is
            // retired, so that if the unlink does not survive a crash it replays as any sealed
            // segment does.
            let oldActive = stateLock.withSharedLock { active }
            try stoppingOnFailure(holdingWriteLock: true) { try oldActive?.cutPreallocatedSpace() }
            let activeFile = try stoppingOnFailure(holdingWriteLock: true) { try storage.create(Segment.fileName(activeId)) }
            let activeSpace = try stoppingOnFailure(holdingWriteLock: true) { try preallocatedSpace(for: activeFile) }
            nextBlockId += Segment.idBlock
            var outputs: [Segment] = []
            let keyCount = stateLock.withExclusiveLock { () -> Int in
                for inputSegment in inputs { removeSegment(inputSegment) }
                for output in installed { outputs.append(addSegment(id: output.id, file: output.file, size: output.size, hasHint: true)) }
                var index = 0
                keydir.updateAll { _, location in
                    let placement = placements[index]
                    let segment = outputs[placement.output]
                    location = Location(segment: segment.slot, offset: UInt32(placement.offset), length: location.length)
                    segment.liveBytes += Int(location.length)
                    segment.records += 1
                    index += 1
                }
                totals.liveBytes = outputs.reduce(0) { $0 + $1.liveBytes }
                totals.records = keydir.count
                totals.deadRecords = 0
                active = addSegment(id: activeId, file: activeFile, size: 0)
                active.space = activeSpace
                return keydir.count
            }
            if let tombstones {
                // Vacuum: the inputs go before the tombstones do (a surviving input could hold a
                // put a tombstone hides), and writers wait, so no new tombstone is lost.
                try stoppingOnFailure(holdingWriteLock: true) {
                    try retire(inputs)
                    try tombstones.file.truncate(to: 0)
                    try tombstones.file.sync()
                }
                tombstones.size = 0
                tombstones.needsSync = false
                stateLock.withExclusiveLock { totals.tombstoneFileBytes = 0 }
            }
            writeLock.unlock()
            holdingWriteLock = false
            // Left-over inputs replay before the outputs, so the files stay correct.
            if tombstones == nil { try stoppingOnFailure { try retire(inputs) } }
            finished = true
            metrics.finishMaintenance(
                "compaction", startedAt: start, bytesRead: bytesRead, bytesWritten: writer.bytesWritten,
                blockedWriters: true, detail: "\(settings.mode.rawValue) (\(trigger)): \(inputs.count) segments → \(outputs.count), \(keyCount) keys")
        }
    }

    /// Runs `body`; when it fails, memory and files may disagree, so the store stops taking
    /// requests until it is reopened (recovery rebuilds memory from the files).
    func stoppingOnFailure<T>(holdingWriteLock: Bool = false, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            if holdingWriteLock { noteFailureHoldingWriteLock(error) } else { noteFailure(error) }
            throw error
        }
    }

    /// Closes and removes merged segments' files oldest first, each followed by a directory fsync:
    /// a surviving newer input still carries any tombstone that hides a stale put in an older
    /// one. Each file is closed only once no reader has it pinned. Call after taking the segments
    /// out of the table, holding `maintenanceLock`.
    func retire(_ inputs: [Segment]) throws {
        for segment in inputs.sorted(by: { $0.id < $1.id }) {
            segment.waitUntilUnpinned()
            segment.file.close()
            try storage.remove(Segment.fileName(segment.id))
            if try storage.exists(Segment.hintName(segment.id)) {
                try storage.remove(Segment.hintName(segment.id))
            }
        }
    }

    /// Reads a whole record (after checking its CRC) into `buffer` and hands its bytes to `body`.
    /// Call holding `stateLock`.
    func readWholeRecord(at location: Location, buffer: inout [UInt8], _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let segment = segments[Int(location.segment)] else {
            throw StoreError.corrupted(file: storage.path, offset: Int64(location.offset), reason: "index points at a missing segment")
        }
        let length = Int(location.length)
        if buffer.count < length { buffer.append(contentsOf: repeatElement(0, count: length - buffer.count)) }
        try buffer.withUnsafeMutableBytes { raw in
            let record = UnsafeMutableRawBufferPointer(rebasing: raw[0..<length])
            try segment.file.readExactly(into: record, at: Int64(location.offset))
            guard settings.format.checksumMatches(UnsafeRawBufferPointer(record)) else {
                throw StoreError.corrupted(file: segment.file.path, offset: Int64(location.offset), reason: "checksum mismatch in a live record")
            }
            try body(UnsafeRawBufferPointer(record))
        }
    }

    // MARK: Background maintenance

    /// The maintenance thread's work: hints for sealed segments, then (incremental mode, when
    /// the policy asked) a merge.
    func runMaintenance() {
        do {
            try writeMissingHints()
            if settings.mode == .incremental && mergeWanted.exchange(false, ordering: .acquiringAndReleasing) {
                try mergeFragmentedSegments()
            }
        } catch StoreError.closed {
            return
        } catch {
            noteFailure(error)
        }
    }

    /// Writes the hints of sealed segments that have none now, on the caller's thread, instead of
    /// leaving them to the maintenance thread.
    public func writeHints() throws {
        try writeMissingHints()
    }

    /// Finishes the hints and (incremental mode) merges every segment the policy would merge,
    /// waiting for a merge the maintenance thread is running (it holds `maintenanceLock`): the
    /// flag alone is not enough, as that thread may have taken it and still be copying.
    public func waitForMaintenance() throws {
        try writeHints()
        if settings.mode == .incremental {
            mergeWanted.store(false, ordering: .releasing)
            try mergeNow()
        }
    }

    /// Writes `<id>.hint` for every sealed segment that has none.
    func writeMissingHints() throws {
        try maintenanceLock.withLock {
            let pending = try stateLock.withSharedLock { () throws -> [Segment] in
                try checkUsable()
                return segments.compactMap { $0 }
            }
            try writeHints(for: pending, includingActive: false)
        }
    }

    /// Writes the hints of those of `candidates` that have none (and are not the active segment,
    /// unless `includingActive`, when closing). Reads each segment front to back without holding
    /// `stateLock`: sealed segments never change, and `maintenanceLock`, which the caller holds,
    /// keeps compactions from removing them meanwhile.
    func writeHints(for candidates: [Segment], includingActive: Bool) throws {
        let current = stateLock.withSharedLock { active }
        for segment in candidates where !segment.hasHint && (includingActive || segment !== current) {
            let size = stateLock.withSharedLock { segment.size }
            guard size > 0 else { continue }
            let start = metrics.startMaintenance()
            let hint: [UInt8]
            do {
                hint = try HintFile.build(scanning: segment.file, size: size, format: settings.format)
                try storage.writeAtomically(Segment.hintName(segment.id), contents: hint)
            } catch {
                metrics.abandonMaintenance()
                throw error
            }
            segment.hasHint = true
            metrics.finishMaintenance(
                "hint", startedAt: start, bytesRead: size, bytesWritten: hint.count, blockedWriters: false,
                detail: "index of segment \(Segment.fileName(segment.id))")
        }
    }

    // MARK: Incremental merge

    /// Runs one incremental merge on the caller's thread, whatever the mode: merges the sealed
    /// segments whose reclaimable bytes pass `merge_fragmentation` (nothing when none does).
    public func mergeNow() throws {
        try stateLock.withSharedLock { try checkUsable() }
        // Merge outputs take ids inside the merged block, which would sort a copied put before a
        // tombstone it follows: with a tombstone file, space comes back by vacuum only.
        guard tombstones == nil else {
            throw StoreError.unsupported("incremental merges do not apply with deletes=tombstone-file; use compact() (vacuum)")
        }
        try mergeFragmentedSegments()
    }

    /// Merges fragmented sealed segments beside running readers and writers: they are chosen and
    /// copied under the shared lock (sealed segments never change), the output is installed with
    /// no lock held, and the keydir entries that still point at a copied record move to the
    /// output under the exclusive lock; the inputs go once no reader has them pinned.
    func mergeFragmentedSegments() throws {
        try maintenanceLock.withLock {
            // 1. Choose.
            let (inputs, keepTombstones, writerOrNil) = stateLock.withSharedLock { () -> ([Segment], Bool, OutputWriter?) in
                guard isOpen, failure == nil else { return ([], false, nil) }
                let sealed = segments.compactMap { $0 }.filter { $0 !== active }
                let chosen = sealed.filter {
                    $0.size > 0 && Double($0.reclaimableBytes) >= settings.mergeFragmentation * Double($0.size)
                }.sorted { $0.id < $1.id }
                guard let newest = chosen.last else { return ([], false, nil) }
                let chosenIds = Set(chosen.map(\.id))
                let olderUnmerged = sealed.contains { $0.id < newest.id && !chosenIds.contains($0.id) }
                return (chosen, olderUnmerged, OutputWriter(store: self, above: newest.id))
            }
            guard var writer = writerOrNil else { return }
            let start = metrics.startMaintenance()
            var finished = false
            defer { if !finished { metrics.abandonMaintenance() } }

            // 2. Copy live records, looking each key up under the shared lock.
            var copied: [(key: [UInt8], old: Location, output: Int, offset: Int, tombstone: Bool)] = []
            var keptTombstones = Set<[UInt8]>()
            var bytesRead = 0
            do {
                for input in inputs {
                    var scanner = SegmentScanner(file: input.file, size: input.size, format: settings.format)
                    let end = try scanner.scan { offset, record in
                        bytesRead += record.size
                        guard record.kind != .commit else { return }
                        let keyBytes = record.key
                        let old = Location(segment: input.slot, offset: UInt32(offset), length: UInt32(record.size))
                        let current = stateLock.withSharedLock { keydir.value(forKey: keyBytes) }
                        let keep: Bool
                        if record.kind == .put {
                            keep = current == old
                        } else {
                            keep = keepTombstones && current == nil && !keptTombstones.contains(Array(keyBytes))
                            if keep { keptTombstones.insert(Array(keyBytes)) }
                        }
                        guard keep else { return }
                        let placed = try writer.append(record.bytes, key: keyBytes, isTombstone: record.kind == .delete)
                        copied.append((Array(keyBytes), old, placed.output, placed.offset, record.kind == .delete))
                    }
                    if case let .invalid(offset, reason, _) = end {
                        throw StoreError.corrupted(file: input.file.path, offset: Int64(offset), reason: reason)
                    }
                }
            } catch {
                writer.abandon()
                throw error
            }
            // Installing syncs and renames files: done without a lock, so readers and writers go on.
            let installed = try stoppingOnFailure { try writer.install() }

            // 3. Swap: only entries that still point at the copied record move.
            stateLock.withExclusiveLock {
                var outputs: [Segment] = []
                for output in installed { outputs.append(addSegment(id: output.id, file: output.file, size: output.size, hasHint: true)) }
                for entry in copied {
                    let segment = outputs[entry.output]
                    segment.records += 1
                    let length = Int(entry.old.length)
                    if entry.tombstone {
                        segment.deadRecords += 1
                        segment.tombstoneBytes += length
                        totals.records += 1
                        totals.deadRecords += 1
                    } else if keydir.value(forKey: entry.key) == entry.old {
                        keydir.insert(Location(segment: segment.slot, offset: UInt32(entry.offset), length: entry.old.length), forKey: entry.key)
                        segment.liveBytes += length
                        totals.records += 1
                    } else {
                        // Overwritten while the merge ran: the copy is dead on arrival.
                        segment.deadRecords += 1
                        totals.records += 1
                        totals.deadRecords += 1
                    }
                }
                // The inputs still count the moved records as live; removing them takes those
                // bytes out of the totals as the outputs put them back in.
                for output in outputs { totals.liveBytes += output.liveBytes }
                for input in inputs { removeSegment(input) }
            }
            // 4. Retire the inputs once readers that looked up an old location are done with it.
            try stoppingOnFailure { try retire(inputs) }
            finished = true
            metrics.finishMaintenance(
                "merge", startedAt: start, bytesRead: bytesRead, bytesWritten: writer.bytesWritten,
                blockedWriters: false, detail: "incremental: \(inputs.count) segments → \(installed.count)")
        }
    }
}
