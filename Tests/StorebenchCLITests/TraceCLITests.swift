import Foundation
import ResultsSchema
import StoreTestSupport
import Testing

@Suite("storebench with production traces")
struct TraceCLITests {
    /// libCacheSim oracleGeneral records (uint32 time, uint64 id, uint32 size, int64 next access).
    func oracleGeneral(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for index in 0..<count {
            withUnsafeBytes(of: UInt32(index / 100).littleEndian) { bytes += $0 }
            withUnsafeBytes(of: UInt64(index * 7 % 501).littleEndian) { bytes += $0 }
            withUnsafeBytes(of: UInt32(100 + index % 50).littleEndian) { bytes += $0 }
            withUnsafeBytes(of: Int64(-1).littleEndian) { bytes += $0 }
        }
        return bytes
    }

    @Test("run replays a gzip-compressed oracleGeneral trace as a cache, sampled, and records how")
    func runCompressedCacheTrace() throws {
        let scratch = try ScratchDirectory("cli-trace-run")
        let plain = scratch.child("w.oracleGeneral.bin")
        try Data(oracleGeneral(5000)).write(to: URL(fileURLWithPath: plain))
        let (zipped, zipOutput) = try shell("gzip -k \(plain)")
        try #require(zipped == 0, "\(zipOutput)")
        let (status, output) = try StorebenchProcess.run(
            ["run", plain + ".gz", "--engines", "memory", "--kill-points", "0", "--as", "cache", "--sample", "0.5",
             "--out", scratch.child("out"), "--no-progress"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("sampled out"), "\(output)")
        let runs = try FileManager.default.contentsOfDirectory(atPath: scratch.child("out"))
        let results = try Results.decode(Data(contentsOf: URL(fileURLWithPath: scratch.child("out") + "/" + runs[0] + "/results.json")))
        #expect(results.workload.source.hasPrefix("oraclegeneral:"))
        // About half the 501 objects: a get for every request plus one put per object.
        let operations = results.workload.operations
        #expect(operations > 2000 && operations < 3300, "\(operations)")
        #expect(results.invocation?.contains("--sample") == true && results.invocation?.contains("cache") == true)
    }

    @Test("--skip-bad N passes N bad lines and stops at the next one, naming it")
    func skipBad() throws {
        let scratch = try ScratchDirectory("cli-skip-bad")
        let input = scratch.child("bad.csv")
        try Data("0,k,1,10,1,get,0\n1,k,1,ten,1,set,0\n2,k,1,10,1,get,0\n3,k,1,x,1,set,0\n".utf8).write(to: URL(fileURLWithPath: input))
        let (passed, report) = try StorebenchProcess.run(["workload", "convert", input, "--from", "twitter", "-o", scratch.child("a"), "--skip-bad", "2"])
        #expect(passed == 0 && report.contains("converted 2 operations") && report.contains("skipped 2"), "\(report)")
        let (failed, message) = try StorebenchProcess.run(["workload", "convert", input, "--from", "twitter", "-o", scratch.child("b"), "--skip-bad", "1"])
        #expect(failed == 1 && message.contains("\(input):4: value size `x`") && message.contains("after skipping 1 bad records"), "\(message)")
    }

    func shell(_ command: String) throws -> (Int32, String) {
        try StorebenchProcess.execute("/bin/sh", ["-c", command])
    }
}
