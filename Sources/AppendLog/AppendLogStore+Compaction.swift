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
        /// copied keys: a copied record is its key's newest) and before the next block.
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
            if buffer[start + 4] & LogRecord.selfCommitting == 0 {
                buffer[start + 4] |= LogRecord.selfCommitting
                let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + 4)...])) }
                buffer.setFixed32(CRC32C.mask(crc), at: start)
            }
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

    /// Stop-the-world compaction: seals the active segment, rewrites every live record in key
    /// order into new segments, drops every tombstone, installs the output and removes the old
    /// segments. Writers wait for it: it is recorded as a blocking `compaction` event.
    func compactFully(trigger: String) throws {
        try maintenanceLock.withLock {
            try lock.withLock {
                try checkUsable()
                let inputs = segments.compactMap { $0 }.sorted { $0.id < $1.id }
                guard let maxInputId = inputs.last?.id else { return }
                let start = metrics.startMaintenance()
                var finished = false
                defer { if !finished { metrics.abandonMaintenance() } }
                var writer = OutputWriter(store: self, above: maxInputId)
                var placements: [(output: Int, offset: Int)] = []
                placements.reserveCapacity(keydir.count)
                var bytesRead = 0
                do {
                    try keydir.forEach(from: nil) { key, location in
                        try readWholeRecord(at: location) { record in
                            bytesRead += record.count
                            let placed = try writer.append(record, key: key, isTombstone: false)
                            placements.append(placed)
                        }
                        return true
                    }
                } catch {
                    writer.abandon()
                    throw error
                }
                // Some outputs may be in place after a failure: the files still replay correctly,
                // but memory no longer knows every segment.
                let installed = try stoppingOnFailure { try writer.install() }
                var outputs: [Segment] = []
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
                // Left-over inputs replay before the outputs, so the files stay correct; but this
                // instance may be left without an active segment.
                try stoppingOnFailure {
                    active = nil
                    try retire(inputs)
                    try startActiveSegment()
                }
                finished = true
                metrics.finishMaintenance(
                    "compaction", startedAt: start, bytesRead: bytesRead, bytesWritten: writer.bytesWritten,
                    blockedWriters: true, detail: "full (\(trigger)): \(inputs.count) segments → \(outputs.count), \(keydir.count) keys")
            }
        }
    }

    /// Runs `body`; when it fails, memory and files may disagree, so the store stops taking
    /// requests until it is reopened (recovery rebuilds memory from the files). Call holding
    /// `lock`, or pass `lockingOnFailure` to take it just to record the failure.
    func stoppingOnFailure<T>(lockingOnFailure: Bool = false, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            let record = { if self.failure == nil { self.failure = error as? StoreError } }
            if lockingOnFailure { lock.withLock(record) } else { record() }
            throw error
        }
    }

    /// Removes merged segments' files oldest first, each followed by a directory fsync: a surviving
    /// newer input still carries any tombstone that hides a stale put in an older one.
    func retire(_ inputs: [Segment]) throws {
        for segment in inputs.sorted(by: { $0.id < $1.id }) {
            segment.file.close()
            try storage.remove(Segment.fileName(segment.id))
            if try storage.exists(Segment.hintName(segment.id)) {
                try storage.remove(Segment.hintName(segment.id))
            }
        }
    }

    /// Reads a whole record (after checking its CRC) and hands its bytes to `body`.
    func readWholeRecord(at location: Location, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let segment = segments[Int(location.segment)] else {
            throw StoreError.corrupted(file: storage.path, offset: Int64(location.offset), reason: "index points at a missing segment")
        }
        var record = [UInt8](repeating: 0, count: Int(location.length))
        try record.withUnsafeMutableBytes { raw in
            try segment.file.readExactly(into: raw, at: Int64(location.offset))
            guard LogRecord.checksumMatches(UnsafeRawBufferPointer(raw)) else {
                throw StoreError.corrupted(file: segment.file.path, offset: Int64(location.offset), reason: "checksum mismatch in a live record")
            }
            try body(UnsafeRawBufferPointer(raw))
        }
    }

    // MARK: Background maintenance

    /// The maintenance thread's work: hints for sealed segments, then (incremental mode, when
    /// the policy asked) a merge.
    func runMaintenance() {
        do {
            try writeMissingHints(includingActive: false)
            let merge = lock.withLock { () -> Bool in
                defer { mergeWanted = false }
                return settings.mode == .incremental && mergeWanted
            }
            if merge { try mergeFragmentedSegments() }
        } catch {
            lock.withLock { if failure == nil { failure = error as? StoreError } }
        }
    }

    /// Writes the hints of sealed segments that have none now, on the caller's thread, instead of
    /// leaving them to the maintenance thread.
    public func writeHints() throws {
        try lock.withLock { try checkUsable() }
        try writeMissingHints(includingActive: false)
    }

    /// Finishes the hints and (incremental mode) the merge the maintenance thread has been asked for.
    public func waitForMaintenance() throws {
        try writeHints()
        let merge = lock.withLock { () -> Bool in
            defer { mergeWanted = false }
            return mergeWanted
        }
        if merge { try mergeNow() }
    }

    /// Writes `<id>.hint` for every sealed segment that has none (and for the active segment when
    /// closing). Reads the segment front to back without holding the store lock: sealed segments
    /// never change, and `maintenanceLock` keeps compactions from removing them meanwhile.
    func writeMissingHints(includingActive: Bool) throws {
        try maintenanceLock.withLock {
            let pending = lock.withLock {
                segments.compactMap { $0 }.filter { !$0.hasHint && $0.size > 0 && (includingActive || $0 !== active) }
            }
            for segment in pending {
                let size = lock.withLock { segment.size }
                let start = metrics.startMaintenance()
                let hint: [UInt8]
                do {
                    hint = try HintFile.build(scanning: segment.file, size: size)
                    try storage.writeAtomically(Segment.hintName(segment.id), contents: hint)
                } catch {
                    metrics.abandonMaintenance()
                    throw error
                }
                lock.withLock { segment.hasHint = true }
                metrics.finishMaintenance(
                    "hint", startedAt: start, bytesRead: size, bytesWritten: hint.count, blockedWriters: false,
                    detail: "index of segment \(Segment.fileName(segment.id))")
            }
        }
    }

    // MARK: Incremental merge

    /// Runs one incremental merge on the caller's thread, whatever the mode: merges the sealed
    /// segments whose reclaimable bytes pass `merge_fragmentation` (nothing when none does).
    public func mergeNow() throws {
        try lock.withLock { try checkUsable() }
        try mergeFragmentedSegments()
    }

    func mergeFragmentedSegments() throws {
        try maintenanceLock.withLock {
            // 1. Choose, under the lock.
            let (inputs, keepTombstones): ([Segment], Bool) = lock.withLock {
                guard isOpen, failure == nil else { return ([], false) }
                let sealed = segments.compactMap { $0 }.filter { $0 !== active }
                let chosen = sealed.filter {
                    $0.size > 0 && Double($0.reclaimableBytes) >= settings.mergeFragmentation * Double($0.size)
                }.sorted { $0.id < $1.id }
                guard let newest = chosen.last else { return ([], false) }
                let chosenIds = Set(chosen.map(\.id))
                let olderUnmerged = sealed.contains { $0.id < newest.id && !chosenIds.contains($0.id) }
                return (chosen, olderUnmerged)
            }
            guard let maxInputId = inputs.last?.id else { return }
            let start = metrics.startMaintenance()
            var finished = false
            defer { if !finished { metrics.abandonMaintenance() } }

            // 2. Copy live records without holding the lock (sealed segments never change).
            var writer = lock.withLock { OutputWriter(store: self, above: maxInputId) }
            var copied: [(key: [UInt8], old: Location, output: Int, offset: Int, tombstone: Bool)] = []
            var keptTombstones = Set<[UInt8]>()
            var bytesRead = 0
            do {
                for input in inputs {
                    var scanner = SegmentScanner(file: input.file, size: input.size)
                    let end = try scanner.scan { offset, header, record in
                        bytesRead += header.size
                        guard header.kind != .commit else { return }
                        let keyBytes = UnsafeRawBufferPointer(rebasing: record[LogRecord.headerSize..<(LogRecord.headerSize + header.keyCount)])
                        let old = Location(segment: input.slot, offset: UInt32(offset), length: UInt32(header.size))
                        let current = lock.withLock { keydir.value(forKey: keyBytes) }
                        let keep: Bool
                        if header.kind == .put {
                            keep = current == old
                        } else {
                            keep = keepTombstones && current == nil && !keptTombstones.contains(Array(keyBytes))
                            if keep { keptTombstones.insert(Array(keyBytes)) }
                        }
                        guard keep else { return }
                        let placed = try writer.append(record, key: keyBytes, isTombstone: header.kind == .delete)
                        copied.append((Array(keyBytes), old, placed.output, placed.offset, header.kind == .delete))
                    }
                    if case let .invalid(offset, reason, _) = end {
                        throw StoreError.corrupted(file: input.file.path, offset: Int64(offset), reason: reason)
                    }
                }
            } catch {
                writer.abandon()
                throw error
            }
            // Installing syncs and renames files: done without the lock, so writers go on.
            let installed = try stoppingOnFailure(lockingOnFailure: true) { try writer.install() }

            // 3. Swap, under the lock: only entries that still point at the copied record move.
            try lock.withLock {
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
                try stoppingOnFailure { try retire(inputs) }
            }
            finished = true
            metrics.finishMaintenance(
                "merge", startedAt: start, bytesRead: bytesRead, bytesWritten: writer.bytesWritten,
                blockedWriters: false, detail: "incremental: \(inputs.count) segments → \(installed.count)")
        }
    }
}
