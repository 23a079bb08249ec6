import StoreCore

/// A store that does nothing: replaying against it measures the harness alone (reading the trace,
/// synthesizing values, timing, histograms).
final class NullStore: Store, @unchecked Sendable {
    var engineName: String { "null" }
    let metrics = StoreMetrics()

    func get(_ key: [UInt8], into value: inout [UInt8]) throws -> Bool { false }
    func put(_ key: [UInt8], _ value: [UInt8]) throws {}
    func delete(_ key: [UInt8]) throws {}
    func apply(_ batch: WriteBatch) throws {}
    func scan(from start: [UInt8], limit: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int { 0 }
    func sync() throws {}
    func compact() throws {}
    func close() throws {}
    func statistics() throws -> StoreStatistics { StoreStatistics() }
}
