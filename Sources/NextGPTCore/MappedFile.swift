#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only and shared: tensors are zero-copy views into it. Ranges can be
/// released (MADV_DONTNEED) so a pipeline holds only the components it is using; the pages come
/// back from the page cache on the next touch.
// @unchecked: the mapping is read-only and lives as long as this object; `release`/`prefetch` are
// madvise hints the kernel serialises.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    public let base: UnsafeRawPointer

    public init(path: String) throws {
        self.path = path
        let (fd, size) = try RandomAccessFile.openForReading(path)
        defer { close(fd) }
        self.size = size
        guard size > 0 else { throw FormatError(path, "is empty") }
        guard let p = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw FormatError(path, "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    /// Bytes `offset ..< offset + count`, checked against the file size.
    public func bytes(offset: Int, count: Int) throws -> UnsafeRawBufferPointer {
        guard offset >= 0, count >= 0, offset <= size - count else {
            throw FormatError(path, "range \(offset)..<\(offset + count) is outside the file's \(size) bytes")
        }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }

    /// Drops the pages of a range from this process (they stay in the page cache).
    public func release(offset: Int, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        let end = min(size, (offset + count + page - 1) / page * page)
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// Asks the kernel to read a range ahead of use.
    public func prefetch(offset: Int, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        let end = min(size, offset + count)
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_WILLNEED)
    }
}
