/// An engine that can check its whole on-disk structure — every checksum, every link, every
/// count — beyond what reading all entries checks. `storebench verify` runs it when present.
public protocol StructureVerifying {
    /// Walks the store's structure from disk and returns report lines.
    /// - Throws: `StoreError.corrupted` naming the file and offset of the first problem.
    func verifyStructure() throws -> [String]
}
