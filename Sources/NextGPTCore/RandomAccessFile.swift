#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only file read with pread at arbitrary offsets. Checkpoints are read tensor by tensor
/// through it, so a 14 GB file is never loaded whole. Shared by every tensor of the file.
public final class RandomAccessFile: Sendable {
    public let path: String
    public let size: Int
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        (fd, size) = try RandomAccessFile.openForReading(path)
    }

    /// Opens a regular file read-only; errors name the file. The caller owns the descriptor.
    static func openForReading(_ path: String) throws -> (fd: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FormatError(path, "cannot open: \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw FormatError(path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw FormatError(path, "is a directory, expected a file")
        }
        return (fd, Int(st.st_size))
    }

    deinit { close(fd) }

    /// Fills `buffer` from `offset`; a range past the end of the file is an error naming the file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        guard offset >= 0, buffer.count <= size, offset <= size - buffer.count else {
            throw FormatError(path, "truncated: needs bytes \(offset)..<\(offset + buffer.count) but the file has \(size)")
        }
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatError(path, "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw FormatError(path, "unexpected end of file at byte \(offset + done)") }
            done += n
        }
    }

    public func read(at offset: Int, count: Int) throws -> [UInt8] {
        guard count >= 0 else { throw FormatError(path, "negative read length \(count)") }
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try read(into: $0, at: offset) }
        return bytes
    }

    /// Tells the kernel the pages just read will not be needed soon, so a conversion that streams
    /// a large checkpoint keeps its page-cache footprint small.
    public func dropCache(offset: Int, count: Int) {
        #if os(Linux)
        _ = posix_fadvise(fd, off_t(offset), off_t(count), Int32(POSIX_FADV_DONTNEED))
        #endif
    }
}
