#if canImport(Glibc)
import Glibc
#endif
import ResultsSchema
import StoreCore

/// What the process and the store's device have used so far: CPU time (`getrusage`, all threads:
/// the harness's and the engine's own), the kernel's I/O accounting (`/proc/self/io`) and the
/// device's completed I/Os (`/proc/diskstats` for the device holding the store). Two snapshots
/// give a run's figures.
struct ResourceUsage {
    var userSeconds = 0.0
    var systemSeconds = 0.0
    var contextSwitches = 0
    /// `/proc/self/io`: bytes passed to read/write calls, the calls, bytes to and from storage.
    var readCalls: Int?
    var writeCalls: Int?
    var bytesFromStorage: Int?
    /// `/proc/diskstats` of the store's device: reads and writes completed (every process's).
    var deviceReads: Int?
    var deviceWrites: Int?

    static func now(device path: String?) -> ResourceUsage {
        var usage = ResourceUsage()
        var rusage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &rusage)
        usage.userSeconds = Double(rusage.ru_utime.tv_sec) + Double(rusage.ru_utime.tv_usec) / 1e6
        usage.systemSeconds = Double(rusage.ru_stime.tv_sec) + Double(rusage.ru_stime.tv_usec) / 1e6
        usage.contextSwitches = Int(rusage.ru_nvcsw + rusage.ru_nivcsw)
        let io = Self.fields(of: "/proc/self/io")
        usage.readCalls = io["syscr"]
        usage.writeCalls = io["syscw"]
        usage.bytesFromStorage = io["read_bytes"]
        if let path, let (reads, writes) = Self.deviceCounts(for: path) {
            usage.deviceReads = reads
            usage.deviceWrites = writes
        }
        return usage
    }

    /// The run's figures: `end` minus `self`, per operation where it says so.
    func resources(until end: ResourceUsage, operations: Int) -> Results.Resources {
        func delta(_ a: Int?, _ b: Int?) -> Int? { a.flatMap { a in b.map { $0 - a } } }
        let cpu = (end.userSeconds - userSeconds) + (end.systemSeconds - systemSeconds)
        let deviceReads = delta(deviceReads, end.deviceReads)
        return Results.Resources(
            cpuUserS: end.userSeconds - userSeconds, cpuSystemS: end.systemSeconds - systemSeconds,
            cpuUsPerOp: operations > 0 ? cpu * 1e6 / Double(operations) : nil,
            contextSwitches: end.contextSwitches - contextSwitches,
            readCalls: delta(readCalls, end.readCalls), writeCalls: delta(writeCalls, end.writeCalls),
            osBytesRead: delta(bytesFromStorage, end.bytesFromStorage),
            deviceReads: deviceReads, deviceWrites: delta(deviceWrites, end.deviceWrites),
            deviceReadsPerOp: deviceReads.flatMap { operations > 0 ? Double($0) / Double(operations) : nil })
    }

    /// `name: value` lines of a /proc file.
    private static func fields(of path: String) -> [String: Int] {
        guard let file = fopen(path, "r") else { return [:] }
        defer { fclose(file) }
        var result: [String: Int] = [:]
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let parts = text.split(separator: ":")
            guard parts.count == 2, let value = Int(parts[1].filter(\.isNumber)) else { continue }
            result[String(parts[0])] = value
        }
        return result
    }

    /// Reads and writes completed on the device that holds `path` (its major:minor in
    /// `/proc/diskstats`), or nil when it cannot be found.
    private static func deviceCounts(for path: String) -> (reads: Int, writes: Int)? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let device = UInt64(status.st_dev)
        // glibc's encoding of a dev_t (gnu_dev_major / gnu_dev_minor).
        let major = Int(((device >> 8) & 0xFFF) | ((device >> 32) & ~0xFFF))
        let minor = Int((device & 0xFF) | ((device >> 12) & ~0xFF))
        guard let file = fopen("/proc/diskstats", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fields = text.split(separator: " ")
            // major minor name reads merged sectors ms writes …
            guard fields.count > 7, Int(fields[0]) == major, Int(fields[1]) == minor,
                  let reads = Int(fields[3]), let writes = Int(fields[7]) else { continue }
            return (reads, writes)
        }
        return nil
    }
}
