import StoreCore

extension AppendLogStore {
    /// Rebuilds the keydir from the segments (hints where valid), cuts a torn tail off the newest
    /// segment, and starts a fresh active segment. See FORMAT.md, "Recovery".
    func recover() throws {
        recoveryReportStorage.removedTemporaryFiles = try storage.removeTemporaryFiles().count
        let names = try storage.list()
        let ids = names.compactMap { Segment.id(fromName: $0, suffix: ".log") }.sorted()
        let hints = Set(names.compactMap { Segment.id(fromName: $0, suffix: ".hint") })
        for (index, id) in ids.enumerated() {
            let file = try storage.open(Segment.fileName(id), writable: index == ids.count - 1)
            let segment = addSegment(id: id, file: file, size: Int(try file.size()))
            if settings.useHints, hints.contains(id), try loadHint(into: segment) {
                recoveryReportStorage.segmentsFromHints += 1
            } else {
                if hints.contains(id) && settings.useHints { recoveryReportStorage.damagedHints += 1 }
                try scanSegment(segment, isNewest: index == ids.count - 1)
                recoveryReportStorage.segmentsScanned += 1
            }
        }
        // Hints whose segment is gone were left by an interrupted install.
        try storage.remove(hints.filter { !ids.contains($0) }.map(Segment.hintName))
        if let last = ids.last {
            nextBlockId = (last / Segment.idBlock + 1) * Segment.idBlock
        }
        try startActiveSegment()
    }

    /// Replays a segment's records into the keydir. Batches apply only with their commit record.
    private func scanSegment(_ segment: Segment, isNewest: Bool) throws {
        var pending: [(kind: LogRecord.Kind, key: [UInt8], offset: Int, length: Int)] = []
        var committedEnd = 0
        var scanner = SegmentScanner(file: segment.file, size: segment.size)
        let path = segment.file.path
        let end = try scanner.scan { offset, header, record in
            let key = Array(record[LogRecord.headerSize..<(LogRecord.headerSize + header.keyCount)])
            switch (header.kind, header.selfCommitting) {
            case (.commit, _):
                let count = Int(record.loadUnaligned(fromByteOffset: LogRecord.headerSize, as: UInt32.self).littleEndian)
                guard count == pending.count else {
                    throw StoreError.corrupted(file: path, offset: Int64(offset), reason: "commit record counts \(count) records, the batch has \(pending.count)")
                }
                for entry in pending { apply(entry.kind, entry.key, entry.offset, entry.length, segment) }
                pending.removeAll()
                committedEnd = offset + header.size
            case (let kind, true):
                guard pending.isEmpty else {
                    throw StoreError.corrupted(file: path, offset: Int64(offset), reason: "a batch of \(pending.count) records has no commit record")
                }
                apply(kind, key, offset, header.size, segment)
                committedEnd = offset + header.size
            case (let kind, false):
                pending.append((kind, key, offset, header.size))
            }
        }
        var tornAt: Int?
        switch end {
        case .clean:
            if !pending.isEmpty { tornAt = committedEnd }
        case let .invalid(offset, reason, torn):
            guard torn && isNewest else {
                throw StoreError.corrupted(file: path, offset: Int64(offset), reason: reason)
            }
            tornAt = committedEnd
        }
        if let tornAt, tornAt < segment.size {
            guard isNewest else {
                throw StoreError.corrupted(file: path, offset: Int64(tornAt), reason: "a batch of \(pending.count) records has no commit record")
            }
            // The interrupted commit was never acknowledged as durable: cut it off.
            try segment.file.truncate(to: Int64(tornAt))
            try segment.file.sync()
            recoveryReportStorage.truncatedBytes += segment.size - tornAt
            totals.size -= segment.size - tornAt
            segment.size = tornAt
        }
    }

    private func apply(_ kind: LogRecord.Kind, _ key: [UInt8], _ offset: Int, _ length: Int, _ segment: Segment) {
        switch kind {
        case .put: notePut(key, Location(segment: segment.slot, offset: UInt32(offset), length: UInt32(length)), in: segment)
        case .delete: noteDelete(key, recordSize: length, in: segment)
        case .commit: break
        }
    }

    /// Loads a segment's hint file; `false` when it is damaged or disagrees with the segment.
    private func loadHint(into segment: Segment) throws -> Bool {
        let bytes = try storage.readAll(Segment.hintName(segment.id))
        // `read` validates the whole hint before the first call, so a damaged hint applies nothing.
        return HintFile.read(bytes, segmentSize: segment.size) { tombstone, key, offset, length in
            if tombstone {
                noteDelete(Array(key), recordSize: Int(length), in: segment)
            } else {
                notePut(Array(key), Location(segment: segment.slot, offset: offset, length: length), in: segment)
            }
        }
    }
}
