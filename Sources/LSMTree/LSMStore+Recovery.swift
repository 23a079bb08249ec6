import StoreCore

/// Open: CURRENT → MANIFEST → the SSTs and the highest sequence they hold completely; then only
/// WAL commits above that sequence are replayed into the memtable.
extension LSMStore {
    func recover() throws {
        try storage.removeTemporaryFiles()
        // New WALs are written in the recyclable layout: an older binary must not open the store.
        if lockedDirectory.identity.formatVersion < Self.formatVersion {
            try storage.writeAtomically(StoreIdentity.fileName,
                                        contents: StoreIdentity(engine: Self.engineName, formatVersion: Self.formatVersion).encoded())
        }
        let names = try storage.list()
        guard names.contains(FileNames.current) else {
            // SSTs only exist once CURRENT does (a flush records them in the MANIFEST it names).
            let tables = names.filter { $0.hasSuffix(FileNames.tableSuffix) }
            guard tables.isEmpty else {
                throw StoreError.corrupted(file: storage.path(of: FileNames.current), offset: 0,
                                           reason: "missing, but the directory holds \(tables.count) SST files")
            }
            // A new store, or a creation interrupted before CURRENT existed (nothing was
            // acknowledged yet): start from nothing.
            try storage.remove(names.filter { FileNames.number(of: $0, .wal) != nil || $0.hasPrefix(FileNames.manifestPrefix) })
            // The WAL first, so that the MANIFEST records it as the oldest WAL still needed.
            nextFileNumber = 1
            try startNewWAL()
            logNumber = walNumber
            try startNewManifest()
            return
        }
        // CURRENT names the MANIFEST.
        let currentPath = storage.path(of: FileNames.current)
        guard let (manifestName, number) = FileNames.manifestNamed(byCurrent: try storage.readAll(FileNames.current)) else {
            throw StoreError.corrupted(file: currentPath, offset: 0, reason: "does not name a MANIFEST file")
        }
        guard names.contains(manifestName) else {
            throw StoreError.corrupted(file: currentPath, offset: 0, reason: "names \(manifestName), which does not exist")
        }
        manifestNumber = number
        let manifestPath = storage.path(of: manifestName)
        let log = try LogReader.read(try storage.readAll(manifestName), path: manifestPath)
        guard !log.records.isEmpty else {
            throw StoreError.corrupted(file: manifestPath, offset: 0, reason: "holds no version record")
        }
        var layout = LevelLayout()
        for (offset, record) in log.records {
            let edit = try VersionEdit.decode(record, path: manifestPath, offset: offset)
            layout.apply(edit)
            if let value = edit.lastSequence { persistedSequence = max(persistedSequence, value) }
            if let value = edit.nextFileNumber { nextFileNumber = max(nextFileNumber, value) }
            if let value = edit.logNumber { logNumber = max(logNumber, value) }
        }
        var lastSequence = persistedSequence
        recoveryReport.persistedSequence = persistedSequence
        var tables: [UInt64: TableFile] = [:]
        for file in layout.allFiles {
            let name = FileNames.table(file.number)
            guard names.contains(name) else {
                throw StoreError.corrupted(file: storage.path(of: name), offset: 0, reason: "SST named by \(manifestName) is missing")
            }
            let reader = try SSTReader(number: file.number, file: try storage.open(name))
            guard reader.size == file.size else {
                throw StoreError.corrupted(file: reader.path, offset: Int64(reader.size),
                                           reason: "is \(reader.size) bytes, the MANIFEST says \(file.size)")
            }
            tables[file.number] = TableFile(metadata: file, reader: reader, obsoleteFiles: obsoleteFiles)
            nextFileNumber = max(nextFileNumber, file.number + 1)
        }
        version = Version(layout: layout, tables: layout.levels.map { files in files.map { tables[$0.number]! } })
        recoveryReport.sstFiles = tables.count
        // Replay WAL commits newer than what the SSTs hold, oldest WAL first.
        let logs = names.compactMap { FileNames.number(of: $0, .wal) }.sorted()
        for number in logs where number >= logNumber {
            nextFileNumber = max(nextFileNumber, number + 1)
            lastSequence = max(lastSequence, try replay(wal: number))
            liveLogs.append(number)
        }
        self.lastSequence.store(lastSequence, ordering: .releasing)
        // A file numbered past what the MANIFEST recorded can exist: a MANIFEST or WAL created
        // by an open that was killed before CURRENT named it. New files must not collide with it.
        for name in names {
            if let (_, number) = FileNames.parse(name) { nextFileNumber = max(nextFileNumber, number + 1) }
        }
        // Start clean: a fresh MANIFEST with the whole version, a fresh WAL; then remove what no
        // longer belongs (older MANIFESTs, WALs below the log number, SSTs no version names).
        // `logNumber` stays what the MANIFEST says: the WALs just replayed hold commits no SST
        // does yet, so they stay until a flush moves the log number past them.
        try startNewManifest()
        try startNewWAL()
        var obsolete: [String] = []
        let live = Set(layout.allFiles.map(\.number))
        for name in names {
            if name.hasPrefix(FileNames.manifestPrefix) && name != FileNames.manifest(manifestNumber) { obsolete.append(name) }
            if let number = FileNames.number(of: name, .wal), number < logNumber { obsolete.append(name) }
            if let number = FileNames.number(of: name, .table), !live.contains(number) { obsolete.append(name) }
        }
        try storage.remove(obsolete)
    }

    /// Applies the commits of WAL `number` whose sequence is above the SSTs' complete sequence;
    /// cuts a torn tail off. Returns the highest sequence applied (0 if none).
    private func replay(wal number: UInt64) throws -> UInt64 {
        let name = FileNames.wal(number)
        let path = storage.path(of: name)
        let bytes = try storage.readAll(name)
        let log = try LogReader.read(bytes, path: path, logNumber: number)
        recoveryReport.walFiles += 1
        var lastSequence: UInt64 = 0
        for (offset, record) in log.records {
            var operations: [(key: [UInt8], value: [UInt8]?)] = []
            let sequence = try CommitRecord.decode(record, path: path, offset: offset) { key, value in
                operations.append((Array(key), value.map { Array($0) }))
            }
            guard sequence > persistedSequence else {
                recoveryReport.skippedCommits += 1
                continue
            }
            memtable.beginWrite()
            for (key, value) in operations {
                key.withUnsafeBytes { key in
                    if let value { value.withUnsafeBytes { memtable.put(key, $0, sequence: sequence) } } else { memtable.delete(key, sequence: sequence) }
                }
            }
            memtable.noteCommit(sequence)
            memtable.endWrite()
            lastSequence = max(lastSequence, sequence)
            recoveryReport.replayedCommits += 1
        }
        // Zeros alone after the last record are preallocated space the WAL had not reached, and
        // records of another log number a recycled file's earlier use: nothing was torn, and
        // the file is only read from now on.
        let unwritten = log.tornBytes > 0 && !bytes[log.validEnd...].contains { $0 != 0 }
        if log.tornBytes > 0 && !unwritten {
            let file = try storage.open(name, writable: true)
            defer { file.close() }
            try file.truncate(to: Int64(log.validEnd))
            try file.sync()
            recoveryReport.truncatedBytes += log.tornBytes
        }
        return lastSequence
    }

    /// Writes a new MANIFEST holding the whole current version, points CURRENT at it.
    func startNewManifest() throws {
        let number = nextFileNumber
        nextFileNumber += 1
        let file = try storage.create(FileNames.manifest(number))
        let writer = LogWriter(file: file, offset: 0)
        try writer.append(version.layout.snapshot(lastSequence: persistedSequence, nextFileNumber: nextFileNumber, logNumber: logNumber).encoded())
        try writer.sync()
        try storage.writeAtomically(FileNames.current, contents: FileNames.currentContents(manifest: number))
        manifest?.file.close()
        manifest = writer
        manifestNumber = number
    }

    private func startNewWAL() throws {
        let number = nextFileNumber
        nextFileNumber += 1
        let file = try storage.create(FileNames.wal(number))
        wal = LogWriter(file: file, offset: 0, space: try walSpace(for: file), logNumber: number)
        walNumber = number
        firstOwnLog = min(firstOwnLog, number)
        liveLogs.append(number)
    }
}
