#if canImport(Glibc)
import Glibc
#endif

/// How much of a store's files the kernel's page cache holds (`mincore` over a read-only
/// mapping of each file): a read figure means little without knowing whether the data was in
/// memory already.
public enum PageCacheResidency {
    /// Bytes of the regular files directly in `directory`, and of those the bytes resident in the
    /// page cache (resident pages, a file's last one up to its end); `nil` if the directory cannot be read.
    public static func measure(directory: String) -> (resident: Int, total: Int)? {
        guard let handle = opendir(directory) else { return nil }
        defer { closedir(handle) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var resident = 0
        var total = 0
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != ".", name != ".." else { continue }
            let fd = open(directory + "/" + name, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var status = stat()
            guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0 else { continue }
            let size = Int(status.st_size)
            total += size
            guard let mapping = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), mapping != MAP_FAILED else { continue }
            defer { munmap(mapping, size) }
            let pages = (size + page - 1) / page
            var vector = [UInt8](repeating: 0, count: pages)
            guard mincore(mapping, size, &vector) == 0 else { continue }
            resident += min(vector.reduce(0) { $0 + Int($1 & 1) } * page, size)
        }
        return (resident, total)
    }
}
