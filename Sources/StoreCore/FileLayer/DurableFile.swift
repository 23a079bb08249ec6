#if canImport(Glibc)
import Glibc
#endif

/// An open file of a store. Reads and writes are positional (`pread`/`pwrite`, no shared file
/// offset); every byte written and every sync is counted in the store's metrics, and every error
/// names the file.
///
/// Not thread-safe for `close()`; concurrent positional reads and writes are fine.
public final class DurableFile: @unchecked Sendable {
    /// Full path, used in error messages.
    public let path: String
    private let fd: Int32
    private let fileSystem: any FileSystem
    private let metrics: StoreMetrics
    private let degradation: Degradation?
    private var isOpen = true

    init(path: String, fd: Int32, fileSystem: any FileSystem, metrics: StoreMetrics, degradation: Degradation? = nil) {
        self.path = path
        self.fd = fd
        self.fileSystem = fileSystem
        self.metrics = metrics
        self.degradation = degradation
    }

    deinit {
        if isOpen { fileSystem.close(fd) }
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file.
    /// - Returns: the bytes read.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(StoreError) -> Int {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let count: Int
            do { count = try fileSystem.pread(fd, into: rest, at: offset + Int64(done)) } catch {
                throw .io(call: error.call, errno: error.errno, path: path)
            }
            if count == 0 { break }
            done += count
        }
        metrics.addFileBytesRead(done)
        return done
    }

    /// Reads exactly `buffer.count` bytes at `offset`; a short file is reported as corruption
    /// because the caller's metadata promised those bytes.
    public func readExactly(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(StoreError) {
        let count = try read(into: buffer, at: offset)
        if count != buffer.count {
            throw .corrupted(file: path, offset: offset + Int64(count),
                             reason: "file ends after \(count) of \(buffer.count) expected bytes")
        }
    }

    /// Reads up to `count` bytes at `offset` into a new array (shorter at end of file).
    public func read(count: Int, at offset: Int64) throws(StoreError) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var failure: StoreError?
        let got = result.withUnsafeMutableBytes { buffer in
            do throws(StoreError) { return try read(into: buffer, at: offset) } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        if got < count { result.removeLast(count - got) }
        return result
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(StoreError) {
        switch degradation {
        case nil, .earlyAcknowledgement?:
            break
        case .doubleWrites:
            try writeOnce(bytes, at: offset)
        case .extraSync:
            try writeOnce(bytes, at: offset)
            try syncData()
            return
        case let .slowWrites(microseconds):
            usleep(microseconds)
        }
        try writeOnce(bytes, at: offset)
    }

    private func writeOnce(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(StoreError) {
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            let count: Int
            do { count = try fileSystem.pwrite(fd, from: rest, at: offset + Int64(done)) } catch {
                metrics.addFileBytesWritten(done)
                throw .io(call: error.call, errno: error.errno, path: path)
            }
            done += count
        }
        metrics.addFileBytesWritten(done)
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: [UInt8], at offset: Int64) throws(StoreError) {
        var failure: StoreError?
        bytes.withUnsafeBytes { buffer in
            do throws(StoreError) { try write(buffer, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Makes the file's data durable (`fdatasync`): enough after appending, since the size change
    /// is metadata that fdatasync also flushes.
    public func syncData() throws(StoreError) {
        do { try fileSystem.fdatasync(fd) } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
        metrics.addSync()
    }

    /// Makes the file's data and all its metadata durable (`fsync`).
    public func sync() throws(StoreError) {
        do { try fileSystem.fsync(fd) } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
        metrics.addSync()
    }

    /// Drops the file's pages from the page cache (after `syncData`, which makes them clean), so
    /// that the next reads measure the device rather than memory.
    public func dropCachedPages() throws(StoreError) {
        try syncData()
        do { try fileSystem.dropCachedPages(fd) } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
    }

    /// The file is read and written at random chunk offsets: no readahead.
    public func adviseRandomAccess() {
        fileSystem.adviseRandomAccess(fd)
    }

    public func truncate(to length: Int64) throws(StoreError) {
        do { try fileSystem.ftruncate(fd, to: length) } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
    }

    /// Current size in bytes.
    public func size() throws(StoreError) -> Int64 {
        do { return try fileSystem.fstat(fd).size } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
    }

    /// Takes an exclusive advisory lock (`flock`), held until the file is closed.
    /// - Returns: `false` when another open file holds it.
    func lockExclusive() throws(StoreError) -> Bool {
        do { return try fileSystem.lockExclusive(fd) } catch {
            throw .io(call: error.call, errno: error.errno, path: path)
        }
    }

    public func close() {
        if isOpen {
            isOpen = false
            fileSystem.close(fd)
        }
    }
}
