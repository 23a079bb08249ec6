import AppendLog
import Foundation
import MemoryStore
import StoreCore
import StoreTestSupport
import Testing

/// Byte-level helpers shared by the variant recovery tests.
enum StoreFiles {
    /// Every file of a store directory, name → bytes.
    static func snapshot(_ path: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + name))
        }
        return files
    }

    /// Restores the directory to `files` exactly.
    static func restore(_ path: String, _ files: [String: Data]) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: path) where files[name] == nil {
            try FileManager.default.removeItem(atPath: path + "/" + name)
        }
        for (name, data) in files { try data.write(to: URL(fileURLWithPath: path + "/" + name)) }
    }

    static func truncate(_ file: String, to length: Int) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.truncate(atOffset: UInt64(length))
        try handle.close()
    }
}

@Suite("log: format=jsonl")
struct JSONLinesFormatTests {
    let jsonl = ["format": "jsonl"]

    @Test("every segment line is a JSON object of the documented shape holding the base64 key and value")
    func lineShape() throws {
        let scratch = try ScratchDirectory("log-jsonl-shape")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let store = try openLog(path, jsonl)
        try store.put([1, 2, 3], [0xFF, 0x00])
        try store.delete([1, 2, 3])
        var batch = WriteBatch()
        batch.put([7], [8, 9, 10, 11])
        batch.delete([9])
        try store.apply(batch)
        try store.close()
        let text = try String(contentsOfFile: path + "/" + (try segmentFiles(path).first!), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "", "the file ends in a newline")
        let objects = try lines.dropLast().map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        #expect(objects.count == 5)
        #expect(objects[0]["k"] as? String == Data([1, 2, 3]).base64EncodedString())
        #expect(objects[0]["v"] as? String == Data([0xFF, 0x00]).base64EncodedString())
        #expect(objects[0]["b"] as? Int == 0)
        #expect(objects[1]["d"] as? Bool == true && objects[1]["v"] == nil)
        #expect(objects[2]["b"] as? Int == 1 && objects[3]["b"] as? Int == 1, "batch members wait for the commit line")
        #expect(objects[4]["n"] as? Int == 2 && objects[4]["k"] == nil)
        for (line, object) in zip(lines, objects) {
            // The checksum covers everything before `,"c":"`.
            let covered = Array(line.utf8.prefix(line.utf8.count - 16))
            let crc = covered.withUnsafeBytes { CRC32C.checksum($0) }
            #expect(object["c"] as? String == String(format: "%08x", crc))
        }
    }

    /// 50 puts, a delete, then `last`; returns the store path, states before and after `last`,
    /// the segment holding it, and where it starts.
    func prepare(_ path: String, last: (AppendLogStore) throws -> Void) throws
        -> (before: [[UInt8]: [UInt8]], after: [[UInt8]: [UInt8]], segment: String, lastStart: Int)
    {
        let store = try openLog(path, jsonl)
        for index in 0..<50 { try store.put(key(index), Array(repeating: UInt8(index), count: index * 3)) }
        try store.delete(key(7))
        let before = try contents(store)
        let segment = path + "/" + (try segmentFiles(path).last!)
        let lastStart = try fileSize(segment)
        try last(store)
        let after = try contents(store)
        try store.close()
        return (before, after, segment, lastStart)
    }

    @Test("a cut at every byte of the last commit recovers exactly the commits before it", arguments: ["put", "batch"])
    func tornTailAtEveryByte(lastCommit: String) throws {
        let scratch = try ScratchDirectory("log-jsonl-torn")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let (before, after, segment, lastStart) = try prepare(path) { store in
            if lastCommit == "put" {
                try store.put(key(1000), Array(repeating: 0xAB, count: 40))
            } else {
                var batch = WriteBatch()
                batch.put(key(1000), [1, 2, 3])
                batch.delete(key(3))
                batch.put(key(1001), Array(repeating: 9, count: 20))
                try store.apply(batch)
            }
        }
        let files = try StoreFiles.snapshot(path)
        let end = try fileSize(segment)
        #expect(end > lastStart)
        for cut in lastStart..<end {
            try StoreFiles.restore(path, files)
            try StoreFiles.truncate(segment, to: cut)
            let store = try openLog(path, jsonl)
            #expect(try contents(store) == before, "cut at \(cut) of \(lastStart)..<\(end)")
            #expect(store.recoveryReport.truncatedBytes == cut - lastStart)
            try store.close()
            #expect(try fileSize(segment) == lastStart, "the partial line is cut off")
        }
        try StoreFiles.restore(path, files)
        var store = try openLog(path, jsonl)
        #expect(try contents(store) == after)
        try store.close()
        // The whole file followed by zeros: preallocated space, not a torn line.
        try StoreFiles.restore(path, files)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: segment))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(count: 700))
        try handle.close()
        store = try openLog(path, jsonl)
        #expect(try contents(store) == after)
        #expect(store.recoveryReport.truncatedBytes == 0 && store.recoveryReport.preallocatedBytes == 700)
        try store.close()
    }

    @Test("a damaged line in the middle is reported with its file, byte offset and line number", arguments: ["checksum", "shape"])
    func corruptLineInTheMiddle(damage: String) throws {
        let scratch = try ScratchDirectory("log-jsonl-corrupt")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let (_, _, segment, _) = try prepare(path) { try $0.put(key(2000), [1]) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        // Line 11 (key 10): flip a base64 character of its value, or break its shape (drop a quote).
        let starts = [0] + bytes.indices.filter { bytes[$0] == 0x0A }.map { $0 + 1 }
        let lineStart = starts[10]
        if damage == "checksum" {
            bytes[lineStart + 30] = bytes[lineStart + 30] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        } else {
            bytes[lineStart + 1] = UInt8(ascii: " ")
        }
        try bytes.write(to: URL(fileURLWithPath: segment))
        // From hints the line is not read on open, but reading its key reports it.
        let fromHints = try openLog(path, jsonl)
        let readError = #expect(throws: StoreError.self) { try fromHints.get(key(10)) }
        guard case let .corrupted(readFile, readOffset, _)? = readError else {
            Issue.record("expected corruption, got \(String(describing: readError))")
            return
        }
        #expect(readFile == segment && readOffset == Int64(lineStart))
        #expect(try fromHints.get(key(11)) == Array(repeating: 11, count: 33))
        try fromHints.close()
        let error = #expect(throws: StoreError.self) { try openLog(path, jsonl.merging(["use_hints": "false"]) { $1 }) }
        guard case let .corrupted(file, offset, reason)? = error else {
            Issue.record("expected corruption, got \(String(describing: error))")
            return
        }
        #expect(file == segment)
        #expect(offset == Int64(lineStart))
        #expect(reason.contains("line 11"), "\(reason)")
        if damage == "checksum" { #expect(reason.contains("checksum"), "\(reason)") }
    }

    @Test("a JSON line of any other shape is corruption: the parser takes only what the writer writes")
    func strictParser() throws {
        let scratch = try ScratchDirectory("log-jsonl-strict")
        defer { scratch.remove() }
        let path = scratch.child("store")
        let store = try openLog(path, jsonl)
        try store.put([1], [2])
        try store.put([3], [4])
        try store.close()
        let segment = path + "/" + (try segmentFiles(path).first!)
        let original = try String(contentsOfFile: segment, encoding: .utf8)
        let first = String(original.split(separator: "\n")[0])
        // Valid JSON with the same data but another spelling: spaces, field order, non-canonical base64.
        let variants = [
            first.replacingOccurrences(of: "\"k\":", with: "\"k\": "),
            first.replacingOccurrences(of: "{\"k\":\"AQ==\",\"v\":\"Ag==\"", with: "{\"v\":\"Ag==\",\"k\":\"AQ==\""),
            first.replacingOccurrences(of: "AQ==", with: "AR=="),
        ]
        for variant in variants {
            try (variant + "\n" + original).write(toFile: segment, atomically: false, encoding: .utf8)
            try? FileManager.default.removeItem(atPath: path + "/" + (try segmentFiles(path).first!).replacingOccurrences(of: ".log", with: ".hint"))
            let error = #expect(throws: StoreError.self) { try openLog(path, jsonl) }
            guard case let .corrupted(file, offset, _)? = error else {
                Issue.record("\(variant): expected corruption, got \(String(describing: error))")
                continue
            }
            #expect(file == segment && offset == 0, "\(variant)")
        }
    }
}
