import StoreCore

extension AppendLogStore {
    /// Rebuilds the keydir and starts a fresh active segment. See FORMAT.md, "Recovery":
    /// the leading segments that all have valid hints are merged by key in one pass (each key's
    /// newest record wins, and the keydir is filled in ascending order); every later segment is
    /// applied in id order, from its hint when it has a valid one, else by reading its records.
    func recover() throws {
        recoveryReportStorage.removedTemporaryFiles = try storage.removeTemporaryFiles().count
        let names = try storage.list()
        let ids = names.compactMap { Segment.id(fromName: $0, suffix: ".log") }.sorted()
        let hintIds = Set(names.compactMap { Segment.id(fromName: $0, suffix: ".hint") })
        var ordered: [Segment] = []
        for (index, id) in ids.enumerated() {
            let file = try storage.open(Segment.fileName(id), writable: index == ids.count - 1)
            ordered.append(addSegment(id: id, file: file, size: Int(try file.size())))
        }
        var hints: [UInt64: (bytes: [UInt8], trailer: HintFile.Trailer)] = [:]
        if settings.useHints {
            for segment in ordered where hintIds.contains(segment.id) {
                let bytes = try storage.readAll(Segment.hintName(segment.id))
                if let trailer = HintFile.validate(bytes, segmentSize: segment.size) {
                    hints[segment.id] = (bytes, trailer)
                    segment.hasHint = true
                } else {
                    recoveryReportStorage.damagedHints += 1
                }
            }
        }
        let leading = ordered.prefix { hints[$0.id] != nil }
        mergeHints(leading.map { ($0, hints[$0.id]!) })
        recoveryReportStorage.segmentsFromHints += leading.count
        for (index, segment) in ordered.enumerated().dropFirst(leading.count) {
            if let hint = hints[segment.id] {
                applyHint(hint, to: segment)
                recoveryReportStorage.segmentsFromHints += 1
            } else {
                try scanSegment(segment, isNewest: index == ordered.count - 1)
                recoveryReportStorage.segmentsScanned += 1
            }
        }
        // Hints whose segment is gone were left by an interrupted install.
        try storage.remove(hintIds.filter { !ids.contains($0) }.map(Segment.hintName))
        // Empty segments (an active segment nothing was written to) hold nothing: drop them so
        // the file count does not grow with every open.
        for segment in ordered where segment.size == 0 {
            removeSegment(segment)
            segment.file.close()
            try storage.remove(Segment.fileName(segment.id))
        }
        if let last = ids.last {
            nextBlockId = (last / Segment.idBlock + 1) * Segment.idBlock
        }
        if settings.deletes == .tombstoneFile { try recoverTombstones() }
        try startActiveSegment()
    }

    /// `deletes=tombstone-file`: applies the tombstone file to the keydir built from the segments
    /// (FORMAT.md, "Tombstone file"). Tombstones are read in runs, one per commit; a run counts
    /// when it is whole and, if its commit also wrote puts, when that commit is in its segment.
    /// The first run that does not count, and everything after it, is cut off: those commits were
    /// never acknowledged. A bad record before the tail is corruption.
    func recoverTombstones() throws {
        let file = try storage.openOrCreate(TombstoneFile.name)
        let size = Int(try file.size())
        var live: [UInt64: Int] = [:]
        for case let segment? in segments { live[segment.id] = segment.size }
        let newestSegment = live.keys.max() ?? 0
        var highestNamed: UInt64 = 0
        var run: [(key: [UInt8], segment: UInt64, position: Int)] = []
        var runStart = 0
        var validEnd = 0
        var stopped = false
        var endsInSeal = false
        // After a clean close the file ends in a seal: nothing in it can be torn.
        let sealed = try TombstoneFile.endsInValidSeal(file, size: size)
        let scanned = try TombstoneFile.scan(file, size: size) { offset, record in
            guard !stopped else { return }
            if record.flags & TombstoneFile.seal != 0 {
                guard run.isEmpty else {
                    throw StoreError.corrupted(file: file.path, offset: Int64(offset), reason: "seal inside the tombstones of one commit")
                }
                validEnd = offset + TombstoneFile.headerSize
                endsInSeal = true
                return
            }
            endsInSeal = false
            if run.isEmpty { runStart = offset }
            run.append((Array(record.key), record.segment, record.position))
            guard record.flags & TombstoneFile.endsCommit != 0 else { return }
            // The commit is there when its segment reaches its end — past the commit's puts, or,
            // for deletes alone, to where they fell: a power loss that kept a delete but lost the
            // segment records before it kept no prefix of the commits. A segment that is gone was
            // retired by a vacuum, which left newer segments behind, or one that held nothing
            // before these deletes (an empty segment is not kept).
            let present = live[record.segment].map { $0 >= record.commitEnd } ?? (newestSegment > record.segment || record.commitEnd == 0)
            guard present else {
                stopped = true
                return
            }
            for tombstone in run { applyTombstone(tombstone.key, segment: tombstone.segment, position: tombstone.position) }
            highestNamed = max(highestNamed, record.segment)
            run.removeAll()
            validEnd = offset + TombstoneFile.recordSize(keyCount: record.key.count)
        }
        if let invalid = scanned.invalid, !stopped, !invalid.torn || sealed {
            throw StoreError.corrupted(file: file.path, offset: Int64(scanned.end), reason: invalid.reason)
        }
        if !run.isEmpty || stopped {
            validEnd = min(validEnd, runStart)
            endsInSeal = false
        }
        if validEnd < size {
            try file.truncate(to: Int64(validEnd))
            try file.sync()
            recoveryReportStorage.truncatedBytes += size - validEnd
        }
        tombstones = TombstoneFile(file: file, size: validEnd, endsInSeal: endsInSeal && validEnd == size)
        totals.tombstoneFileBytes = validEnd
        // New segments take ids above every segment a tombstone names, so a later put never
        // sorts before a tombstone it follows.
        nextBlockId = max(nextBlockId, (highestNamed / Segment.idBlock + 1) * Segment.idBlock)
    }

    /// Deletes `key` when its newest put is before the tombstone's place in the history.
    private func applyTombstone(_ key: [UInt8], segment id: UInt64, position: Int) {
        guard let location = keydir.value(forKey: key), let holder = segments[Int(location.segment)] else { return }
        guard (holder.id, Int(location.offset)) < (id, position) else { return }
        key.withUnsafeBytes { noteTombstone($0) }
    }

    /// Merges the sorted hints of the oldest segments, oldest first in `hinted`, into the empty
    /// keydir: a k-way merge by key where, among equal keys, the newest segment's entry wins.
    private func mergeHints(_ hinted: [(segment: Segment, hint: (bytes: [UInt8], trailer: HintFile.Trailer))]) {
        guard !hinted.isEmpty else { return }
        // One buffer for all hints, so one pointer scope covers every cursor.
        var joined: [UInt8] = []
        var ranges: [Range<Int>] = []
        for item in hinted {
            let start = joined.count
            joined.append(contentsOf: item.hint.bytes[..<(item.hint.bytes.count - HintFile.trailerSize)])
            ranges.append(start..<joined.count)
        }
        var liveRecords = [Int](repeating: 0, count: hinted.count)
        joined.withUnsafeBytes { raw in
            var cursors = ranges.map { HintFile.Cursor(raw: UnsafeRawBufferPointer(rebasing: raw[$0])) }
            var heads = cursors.indices.map { cursors[$0].next() ?? nil }
            while true {
                // The smallest key among the heads; the newest segment holding it wins.
                var winner = -1
                for index in heads.indices {
                    guard let head = heads[index] else { continue }
                    if winner < 0 || KeyOrder.compare(head.key, heads[winner]!.key) <= 0 { winner = index }
                }
                guard winner >= 0, let (key, entry) = heads[winner] else { break }
                if !entry.isTombstone {
                    let segment = hinted[winner].segment
                    keydir.insert(Location(segment: segment.slot, offset: entry.offset, length: entry.length), forKey: key)
                    segment.liveBytes += Int(entry.length)
                    totals.liveBytes += Int(entry.length)
                    liveRecords[winner] += 1
                }
                for index in heads.indices {
                    if let head = heads[index], KeyOrder.compare(head.key, key) == 0 {
                        heads[index] = cursors[index].next() ?? nil
                    }
                }
            }
        }
        for (index, item) in hinted.enumerated() {
            let segment = item.segment
            segment.records = item.hint.trailer.recordCount
            segment.deadRecords = segment.records - liveRecords[index]
            segment.tombstoneBytes = item.hint.trailer.tombstoneBytes
            totals.records += segment.records
            totals.deadRecords += segment.deadRecords
        }
    }

    /// Applies one segment's hint on top of the older segments already in the keydir.
    private func applyHint(_ hint: (bytes: [UInt8], trailer: HintFile.Trailer), to segment: Segment) {
        var livePuts = 0
        HintFile.forEachEntry(hint.bytes) { key, entry in
            let old = entry.isTombstone
                ? keydir.removeValue(forKey: key)
                : keydir.insert(Location(segment: segment.slot, offset: entry.offset, length: entry.length), forKey: key)
            if let old { noteSuperseded(old) }
            if !entry.isTombstone {
                segment.liveBytes += Int(entry.length)
                totals.liveBytes += Int(entry.length)
                livePuts += 1
            }
        }
        segment.records = hint.trailer.recordCount
        segment.deadRecords += segment.records - livePuts
        segment.tombstoneBytes = hint.trailer.tombstoneBytes
        totals.records += segment.records
        totals.deadRecords += segment.records - livePuts
    }

    /// Replays a segment's records into the keydir. Batches apply only with their commit record.
    private func scanSegment(_ segment: Segment, isNewest: Bool) throws {
        var pending: [(kind: LogRecord.Kind, key: [UInt8], offset: Int, length: Int)] = []
        var committedEnd = 0
        var scanner = SegmentScanner(file: segment.file, size: segment.size, format: settings.format)
        let path = segment.file.path
        let end = try scanner.scan { offset, record in
            let key = record.key
            switch (record.kind, record.selfCommitting) {
            case (.commit, _):
                let count = record.commitCount
                guard count == pending.count else {
                    throw StoreError.corrupted(file: path, offset: Int64(offset), reason: "commit record counts \(count) records, the batch has \(pending.count)")
                }
                for entry in pending {
                    entry.key.withUnsafeBytes { apply(entry.kind, $0, entry.offset, entry.length, segment) }
                }
                pending.removeAll()
                committedEnd = offset + record.size
            case (let kind, true):
                guard pending.isEmpty else {
                    throw StoreError.corrupted(file: path, offset: Int64(offset), reason: "a batch of \(pending.count) records has no commit record")
                }
                apply(kind, key, offset, record.size, segment)
                committedEnd = offset + record.size
            case (let kind, false):
                pending.append((kind, Array(key), offset, record.size))
            }
        }
        var tornAt: Int?
        switch end {
        case .clean:
            if !pending.isEmpty { tornAt = committedEnd }
        case let .invalid(offset, reason, torn):
            if !isNewest, pending.isEmpty, offset == committedEnd, try scanner.onlyZerosFrom(offset) {
                // Preallocated space of a segment that was once active, left whole by a crash
                // before its cut: the segment ends at its last record (the file is read-only).
                totals.size -= segment.size - offset
                segment.size = offset
                return
            }
            guard torn && isNewest else {
                throw StoreError.corrupted(file: path, offset: Int64(offset), reason: reason)
            }
            tornAt = committedEnd
        }
        if let tornAt, tornAt < segment.size {
            guard isNewest else {
                throw StoreError.corrupted(file: path, offset: Int64(tornAt), reason: "a batch of \(pending.count) records has no commit record")
            }
            // The interrupted commit was never acknowledged as durable: cut it off. Zeros alone
            // are the preallocated space the segment had not reached, not a torn commit.
            let unwritten = try scanner.onlyZerosFrom(tornAt)
            try segment.file.truncate(to: Int64(tornAt))
            try segment.file.sync()
            if unwritten {
                recoveryReportStorage.preallocatedBytes += segment.size - tornAt
            } else {
                recoveryReportStorage.truncatedBytes += segment.size - tornAt
            }
            totals.size -= segment.size - tornAt
            segment.size = tornAt
        }
    }

    private func apply(_ kind: LogRecord.Kind, _ key: UnsafeRawBufferPointer, _ offset: Int, _ length: Int, _ segment: Segment) {
        switch kind {
        case .put: notePut(key, Location(segment: segment.slot, offset: UInt32(offset), length: UInt32(length)), in: segment)
        case .delete: noteDelete(key, recordSize: length, in: segment)
        case .commit: break
        }
    }
}
