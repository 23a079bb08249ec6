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
