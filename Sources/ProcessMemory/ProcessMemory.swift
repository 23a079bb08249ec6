#if Jemalloc
import CJemalloc
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Memory figures of this process: jemalloc's own statistics (jemalloc is the process allocator
/// because the executable links Debian's libjemalloc) and the kernel's resident set size.
public enum ProcessMemory {
    /// jemalloc's view after refreshing its statistics (`epoch`).
    public struct AllocatorStatistics: Sendable, Equatable {
        /// Bytes in live allocations (`stats.allocated`).
        public var allocated: Int
        /// Bytes in physically resident pages the allocator maps (`stats.resident`).
        public var resident: Int
    }

    /// Current jemalloc statistics, or `nil` when jemalloc is not the allocator in use.
    public static func allocator() -> AllocatorStatistics? {
        #if Jemalloc
        // Writing `epoch` makes jemalloc refresh the cached statistics read below.
        var epoch: UInt64 = 1
        guard mallctl("epoch", nil, nil, &epoch, MemoryLayout<UInt64>.size) == 0 else { return nil }
        guard let allocated = readSize("stats.allocated"), let resident = readSize("stats.resident") else {
            return nil
        }
        return AllocatorStatistics(allocated: allocated, resident: resident)
        #else
        // Built without jemalloc (the Thread Sanitizer build: its runtime is the allocator).
        return nil
        #endif
    }

    #if Jemalloc
    private static func readSize(_ name: String) -> Int? {
        var value: Int = 0
        var size = MemoryLayout<Int>.size
        guard mallctl(name, &value, &size, nil, 0) == 0 else { return nil }
        return value
    }
    #endif

    /// Whether this process's `malloc` is jemalloc's: the address the global lookup finds must be
    /// the one inside the loaded libjemalloc. (Allocating and watching `stats.allocated` is no
    /// test: the optimiser removes an unused malloc/free pair.)
    public static func jemallocIsProcessAllocator() -> Bool {
        // glibc's RTLD_DEFAULT is the null handle: search the global scope like the linker does.
        guard let global = dlsym(nil, "malloc") else { return false }
        guard let library = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_NOLOAD) else { return false }
        defer { dlclose(library) }
        return dlsym(library, "malloc") == global && allocator() != nil
    }

    /// Starts a new peak: returns memory freed so far to the system (jemalloc purges its dirty
    /// pages in every arena), then resets the kernel's high-water mark of the resident set
    /// (`/proc/self/clear_refs` value 5, Linux 4.0+). Afterwards `peakResidentSinceReset()` is the
    /// peak of what comes next, not of the process's whole life.
    /// - Returns: whether the high-water mark could be reset.
    @discardableResult
    public static func resetPeak() -> Bool {
        #if Jemalloc
        // MALLCTL_ARENAS_ALL (4096) names every arena.
        _ = mallctl("thread.tcache.flush", nil, nil, nil, 0)
        _ = mallctl("arena.4096.purge", nil, nil, nil, 0)
        #endif
        guard let file = fopen("/proc/self/clear_refs", "w") else { return false }
        let written = fputs("5", file) >= 0
        return fclose(file) == 0 && written
    }

    /// The resident set's high-water mark since the last `resetPeak()` (or since the process
    /// started), in bytes: `VmHWM` of `/proc/self/status`.
    public static func peakResidentSinceReset() -> Int? {
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix("VmHWM:") else { continue }
            let kilobytes = text.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }

    /// Peak resident set size of the process so far, in bytes (`getrusage`'s `ru_maxrss`).
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// Current resident set size, in bytes (second field of `/proc/self/statm`, in pages).
    public static func currentResidentBytes() -> Int? {
        guard let file = fopen("/proc/self/statm", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        guard fgets(&line, Int32(line.count), file) != nil else { return nil }
        let text = line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let fields = String(decoding: text, as: UTF8.self).split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
