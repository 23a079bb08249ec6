import StoreCore
import StoreTestSupport
import Testing
@testable import Workload

/// The reader's one-pass decoding of records that lie wholly in its window, against records
/// that straddle the window's end or carry their value: a long trace must read back exactly.
@Suite("Trace decoding")
struct TraceDecodingTests {
    @Test("a trace several windows long, with every kind, key lengths and optional fields, reads back exactly")
    func longTrace() throws {
        var random = SeededRandom(seed: 23)
        var operations: [WorkloadOperation] = []
        var time: UInt64 = 1000
        for index in 0..<60_000 {
            let key = (0..<Int(random.next() % 41)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            // Timestamps on some records only, and sometimes going backwards.
            let timestamp: UInt64? = index % 3 == 0 ? nil : time
            time = index % 11 == 0 ? time - min(time, 7) : time + random.next() % 5000
            switch random.next() % 8 {
            case 0: operations.append(WorkloadOperation(.get, key: key, timestamp: timestamp))
            case 1: operations.append(WorkloadOperation(.put, key: key, valueSize: Int(random.next() % 300), timestamp: timestamp))
            case 2: operations.append(WorkloadOperation(.put, key: key, value: (0..<Int(random.next() % 90)).map { UInt8(truncatingIfNeeded: $0) }, timestamp: timestamp))
            case 3: operations.append(WorkloadOperation(.delete, key: key, timestamp: timestamp))
            case 4: operations.append(WorkloadOperation(.scan, key: key, scanCount: Int(random.next() % 100_000), timestamp: timestamp))
            case 5: operations.append(WorkloadOperation(.readModifyWrite, key: key, valueSize: 1 << 20, timestamp: timestamp))
            case 6: operations.append(WorkloadOperation(.begin, timestamp: timestamp))
            default: operations.append(WorkloadOperation(.commit))
            }
        }
        let scratch = try ScratchDirectory("trace-decoding")
        let path = scratch.child("t.trace")
        let writer = try TraceWriter(path: path, header: TraceHeader([("source", "test"), ("seed", "1")]))
        for operation in operations { try writer.append(operation) }
        try writer.finish()

        var reader = try TraceReader(path: path)
        var operation = WorkloadOperation(.get)
        var index = 0
        while try reader.next(into: &operation) {
            #expect(operation == operations[index], "record \(index)")
            index += 1
            if index > operations.count { break }
        }
        #expect(index == operations.count)
        #expect(reader.count == operations.count)
    }
}
