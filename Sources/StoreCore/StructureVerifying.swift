/// An engine that can check its whole on-disk structure — every checksum, every link, every
/// count — beyond what reading all entries checks. `storebench verify` runs it when present.
public protocol StructureVerifying {
    /// Walks the store's structure from disk and returns report lines.
    /// - Throws: `StoreError.corrupted` naming the file and offset of the first problem.
    func verifyStructure() throws -> [String]
}

/// An engine that can stop as a killed process would — background threads halted, nothing
/// flushed or synced, files and the lock released — so crash recovery can be timed in-process.
/// Whatever was written stays in the page cache, exactly as after `kill -9`.
public protocol CrashSimulating {
    func simulateCrash()
}
