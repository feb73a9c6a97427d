#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CNextGPTKernels
import NextGPTCore
import NextGPTKernels

/// A tensor as the container describes it: name, shape in PyTorch order, ggml type.
public struct GGUFTensorInfo: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var type: GGMLType

    public init(name: String, shape: [Int], type: GGMLType) {
        self.name = name
        self.shape = shape
        self.type = type
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { type.byteCount(elements: elementCount) ?? 0 }
}

/// Writes a GGUF v3 file in one pass: header, metadata, tensor infos, then tensor data in info
/// order, each tensor padded to the alignment. It writes to a temporary file beside the
/// destination and renames it only in `commit()`, so an interrupted conversion never leaves a
/// file under the final name. Fixed-size values (checksums) can be patched after the data is written.
public final class GGUFWriter {
    public let destination: String
    public let temporaryPath: String
    public let alignment: Int
    private var fd: Int32 = -1
    private var tensors: [GGUFTensorInfo] = []
    private var nextTensor = 0
    private var position = 0
    private var dataStart = 0
    private var patchable: [String: (offset: Int, size: Int)] = [:]
    private var committed = false
    /// The header as written (with patches applied), for the header checksum.
    private var header: [UInt8] = []
    private var headerChecksumKey: String?
    private var flushedUpTo = 0
    /// Written data is handed to the kernel's write-back in slices of this size as the file grows,
    /// so the final fsync has little left to do and the page cache keeps room for the sources.
    static let writeBackSlice = 64 << 20

    public init(destination: String, alignment: Int = 64) throws {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        self.destination = destination
        self.alignment = alignment
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { String(destination[..<$0]) } ?? "."
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        self.temporaryPath = "\(directory)/.\(base).tmp-\(getpid())"
        Self.removeStaleTemporaries(of: destination)
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FormatError(destination, "cannot create \(temporaryPath): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes `.<name>.tmp-<pid>` files beside `destination` whose writing process no longer
    /// exists: what a conversion killed with SIGKILL (or a power cut) leaves behind. Files of
    /// live processes — another conversion to the same name — are left alone. Returns the
    /// paths removed.
    @discardableResult
    public static func removeStaleTemporaries(of destination: String) -> [String] {
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { String(destination[..<$0]) } ?? "."
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        let prefix = ".\(base).tmp-"
        guard let folder = opendir(directory.isEmpty ? "/" : directory) else { return [] }
        defer { closedir(folder) }
        var removed: [String] = []
        while let entry = readdir(folder) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
            // kill(pid, 0) probes existence without sending anything; EPERM means alive (another user's).
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            let path = "\(directory)/\(name)"
            if unlink(path) == 0 { removed.append(path) }
        }
        return removed
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(temporaryPath) }
    }

    /// Writes everything before the tensor data. Values named in `patchable` can be overwritten
    /// later with `patch(_:with:)` by a value of the same serialized size (checksums computed
    /// while the data streams out).
    /// `headerChecksumKey`: when given, a UINT32 of that name is appended to the metadata and set
    /// at `commit()` to the CRC-32C of every byte before the tensor data, its own 4 bytes counted
    /// as zeros (`Container.verifyHeader`), so damage to metadata or tensor records is caught.
    public func begin(metadata: [(String, GGUFValue)], tensors: [GGUFTensorInfo], patchable: Set<String> = [],
                      headerChecksumKey: String? = nil) throws {
        self.tensors = tensors
        var metadata = metadata
        var patchable = patchable
        if let headerChecksumKey {
            metadata.append((headerChecksumKey, .uint32(0)))
            patchable.insert(headerChecksumKey)
            self.headerChecksumKey = headerChecksumKey
        }
        var header = ByteBuffer()
        header.append(uint32: 0x4655_4747)  // "GGUF"
        header.append(uint32: 3)
        header.append(uint64: UInt64(tensors.count))
        header.append(uint64: UInt64(metadata.count))
        var keys = Set<String>()
        for (key, value) in metadata {
            guard keys.insert(key).inserted else { throw FormatError(destination, "duplicate metadata key \(key)") }
            header.append(string: key)
            header.append(uint32: value.type.rawValue)
            let start = header.count
            header.append(value: value)
            if patchable.contains(key) { self.patchable[key] = (start, header.count - start) }
        }
        var offset = 0
        var names = Set<String>()
        for tensor in tensors {
            guard names.insert(tensor.name).inserted else { throw FormatError(destination, tensor: tensor.name, "duplicate tensor name") }
            guard tensor.shape.count <= 4 else { throw FormatError(destination, tensor: tensor.name, "more than 4 dimensions \(tensor.shape)") }
            guard tensor.type.byteCount(elements: tensor.elementCount) != nil,
                  (tensor.shape.last ?? 1) % tensor.type.blockSize == 0 else {
                throw FormatError(destination, tensor: tensor.name, "rows of \(tensor.shape) do not fit \(tensor.type) blocks of \(tensor.type.blockSize)")
            }
            header.append(string: tensor.name)
            let dims = tensor.shape.isEmpty ? [1] : tensor.shape
            header.append(uint32: UInt32(dims.count))
            for extent in dims.reversed() { header.append(uint64: UInt64(extent)) }  // ggml order: fastest first
            header.append(uint32: tensor.type.rawValue)
            header.append(uint64: UInt64(offset))
            offset += padded(tensor.byteCount)
        }
        header.pad(to: alignment)
        dataStart = header.count
        self.header = header.bytes
        try writeAll(header.bytes)
    }

    /// Appends the next tensor's bytes; tensors must come in the order given to `begin`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard nextTensor < tensors.count else { throw FormatError(destination, "more tensors written than declared") }
        let tensor = tensors[nextTensor]
        guard bytes.count == tensor.byteCount else {
            throw FormatError(destination, tensor: tensor.name, "got \(bytes.count) bytes, expected \(tensor.byteCount)")
        }
        try writeAll(bytes)
        let padding = padded(bytes.count) - bytes.count
        if padding > 0 { try writeAll([UInt8](repeating: 0, count: padding)) }
        nextTensor += 1
        startWriteBack()
    }

    /// Starts write-back of completed slices (POSIX_FADV_DONTNEED writes dirty pages out without
    /// waiting, then lets them leave the cache).
    private func startWriteBack() {
        #if os(Linux)
        while position - flushedUpTo >= 2 * GGUFWriter.writeBackSlice {
            _ = posix_fadvise(fd, off_t(flushedUpTo), off_t(GGUFWriter.writeBackSlice), Int32(POSIX_FADV_DONTNEED))
            flushedUpTo += GGUFWriter.writeBackSlice
        }
        #endif
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Overwrites a value declared patchable in `begin` with one of the same serialized size.
    public func patch(_ key: String, with value: GGUFValue) throws {
        var buffer = ByteBuffer()
        buffer.append(value: value)
        guard let slot = patchable[key], slot.size == buffer.count else {
            throw FormatError(destination, "metadata \(key) is not patchable with a value of \(buffer.count) bytes")
        }
        try buffer.bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(slot.offset + done))
                if n < 0 { if errno == EINTR { continue }; throw ioError("pwrite") }
                done += n
            }
        }
        header.replaceSubrange(slot.offset..<(slot.offset + slot.size), with: buffer.bytes)
    }

    /// Flushes, syncs and renames the temporary file to the destination.
    public func commit() throws {
        guard nextTensor == tensors.count else {
            throw FormatError(destination, "only \(nextTensor) of \(tensors.count) tensors were written")
        }
        if let key = headerChecksumKey, let slot = patchable[key] {
            var blanked = header
            blanked.replaceSubrange(slot.offset..<(slot.offset + slot.size), with: [0, 0, 0, 0])
            let crc = blanked.withUnsafeBytes { ngk_crc32c_update(0, $0.baseAddress, $0.count) }
            try patch(key, with: .uint32(crc))
        }
        guard fsync(fd) == 0 else { throw ioError("fsync") }
        close(fd)
        fd = -1
        guard rename(temporaryPath, destination) == 0 else { throw ioError("rename") }
        committed = true
    }

    private func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    private func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll($0) }
    }

    private func writeAll(_ raw: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 { if errno == EINTR { continue }; throw ioError("write") }
            done += n
        }
        position += raw.count
    }

    private func ioError(_ what: String) -> FormatError {
        FormatError(temporaryPath, "\(what) failed: \(String(cString: strerror(errno)))")
    }
}

/// Little-endian serialisation of GGUF header pieces.
struct ByteBuffer {
    var bytes: [UInt8] = []
    var count: Int { bytes.count }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func append(uint32 v: UInt32) { append(v) }
    mutating func append(uint64 v: UInt64) { append(v) }
    mutating func append(string s: String) {
        let utf8 = Array(s.utf8)
        append(uint64: UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }
    mutating func pad(to alignment: Int) {
        let target = (bytes.count + alignment - 1) / alignment * alignment
        bytes.append(contentsOf: [UInt8](repeating: 0, count: target - bytes.count))
    }

    mutating func append(value: GGUFValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .float64(let v): append(v.bitPattern)
        case .bool(let v): bytes.append(v ? 1 : 0)
        case .string(let s): append(string: s)
        case .array(let elementType, let elements):
            precondition(elementType != .array, "GGUF arrays are never nested here")
            append(uint32: elementType.rawValue)
            append(uint64: UInt64(elements.count))
            for element in elements {
                precondition(element.type == elementType, "heterogeneous GGUF array")
                append(value: element)
            }
        }
    }
}
