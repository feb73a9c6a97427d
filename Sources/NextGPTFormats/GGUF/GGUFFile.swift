import NextGPTCore
import NextGPTKernels

/// A tensor record of a GGUF file.
public struct GGUFTensor: Sendable {
    public let name: String
    /// PyTorch order (outermost first): the reverse of GGUF's `ne`.
    public let shape: [Int]
    public let type: GGMLType
    /// Absolute offset of the tensor's bytes in the file.
    public let fileOffset: Int
    public let byteCount: Int
}

/// Reads and validates a GGUF file's header, metadata and tensor records; tensor bytes stay on disk.
/// Every count, length and offset is checked against the file size before anything is allocated.
public final class GGUFFile: Sendable {
    public let path: String
    public let file: RandomAccessFile
    public let version: UInt32
    public let alignment: Int
    public let dataOffset: Int
    /// Metadata in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// File offset of each metadata value (after its key and type), for checksums that cover
    /// the header with one value's bytes blanked.
    public let metadataValueOffsets: [String: Int]
    public let tensors: [GGUFTensor]
    private let tensorIndex: [String: Int]

    public init(path: String) throws {
        self.path = path
        file = try RandomAccessFile(path: path)
        var cursor = HeaderCursor(file: file)
        let magic = try cursor.uint32()
        guard magic == 0x4655_4747 else { throw FormatError(path, "not a GGUF file (magic \(String(magic, radix: 16)))") }
        version = try cursor.uint32()
        guard version == 2 || version == 3 else { throw FormatError(path, "unsupported GGUF version \(version)") }
        let tensorCount = try cursor.count(minimumBytesEach: 24, what: "tensor count")
        let kvCount = try cursor.count(minimumBytesEach: 13, what: "metadata count")

        var keys: [String] = []
        var values: [String: GGUFValue] = [:]
        var valueOffsets: [String: Int] = [:]
        for _ in 0..<kvCount {
            let key = try cursor.string()
            guard values[key] == nil else { throw FormatError(path, "duplicate metadata key '\(key)'") }
            let rawType = try cursor.uint32()
            guard let type = GGUFValueType(rawValue: rawType) else { throw FormatError(path, "metadata '\(key)' has unknown type \(rawType)") }
            valueOffsets[key] = cursor.position
            values[key] = try cursor.value(of: type, key: key)
            keys.append(key)
        }
        metadataKeys = keys
        metadata = values
        metadataValueOffsets = valueOffsets

        var alignment = 32
        if let value = values["general.alignment"] {
            guard case .uint32(let a) = value, a > 0, a & (a - 1) == 0 else {
                throw FormatError(path, "general.alignment must be a UINT32 power of two")
            }
            alignment = Int(a)
        }
        self.alignment = alignment

        var records: [(String, [Int], GGMLType, Int)] = []
        var names: [String: Int] = [:]
        for i in 0..<tensorCount {
            let name = try cursor.string()
            guard names[name] == nil else { throw FormatError(path, tensor: name, "duplicate tensor name") }
            names[name] = i
            let rank = try cursor.uint32()
            guard rank >= 1, rank <= 4 else { throw FormatError(path, tensor: name, "has \(rank) dimensions (1 to 4 allowed)") }
            var ne: [Int] = []
            for _ in 0..<rank {
                let extent = try cursor.uint64()
                guard extent <= UInt64(file.size) * 8 else { throw FormatError(path, tensor: name, "dimension \(extent) is impossible for this file size") }
                ne.append(Int(extent))
            }
            let rawType = try cursor.uint32()
            guard let type = GGMLType(rawValue: rawType) else { throw FormatError(path, tensor: name, "unsupported ggml type \(rawType)") }
            let offset = try cursor.uint64()
            guard offset <= UInt64(file.size) else { throw FormatError(path, tensor: name, "offset \(offset) beyond the file") }
            records.append((name, Array(ne.reversed()), type, Int(offset)))
        }
        dataOffset = (cursor.position + alignment - 1) / alignment * alignment

        var tensors: [GGUFTensor] = []
        for (name, shape, type, offset) in records {
            guard let count = checkedElementCount(shape), let bytes = type.byteCount(elements: count),
                  (shape.last ?? 1) % type.blockSize == 0 else {
                throw FormatError(path, tensor: name, "shape \(shape) does not fit \(type) blocks")
            }
            guard offset % alignment == 0 else { throw FormatError(path, tensor: name, "offset \(offset) is not aligned to \(alignment)") }
            let start = dataOffset + offset
            guard start <= file.size, bytes <= file.size - start else {
                throw FormatError(path, tensor: name, "truncated: data \(start)..<\(start + bytes) beyond the file's \(file.size) bytes")
            }
            tensors.append(GGUFTensor(name: name, shape: shape, type: type, fileOffset: start, byteCount: bytes))
        }
        self.tensors = tensors
        tensorIndex = names
    }

    public subscript(tensor name: String) -> GGUFTensor? { tensorIndex[name].map { tensors[$0] } }

    public func bytes(of tensor: GGUFTensor) throws -> [UInt8] {
        try file.read(at: tensor.fileOffset, count: tensor.byteCount)
    }

    public func string(_ key: String) -> String? { metadata[key]?.stringValue }
}

/// Sequential reader over the header with a read-ahead buffer; lengths are checked against what
/// remains of the file, so a lying length can never allocate more than the file holds.
private struct HeaderCursor {
    let file: RandomAccessFile
    var position = 0
    private var buffer: [UInt8] = []
    private var bufferStart = 0

    init(file: RandomAccessFile) { self.file = file }

    var remaining: Int { file.size - position }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else {
            throw FormatError(file.path, "truncated header: needs \(n) bytes at offset \(position), \(remaining) left")
        }
        if position < bufferStart || position + n > bufferStart + buffer.count {
            bufferStart = position
            buffer = try file.read(at: position, count: min(remaining, max(n, 1 << 20)))
        }
        let start = position - bufferStart
        position += n
        return buffer[start..<(start + n)]
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let bytes = try take(MemoryLayout<T>.size)
        var value: T = 0
        for (i, b) in bytes.enumerated() { value |= T(truncatingIfNeeded: b) << (8 * i) }
        return value
    }

    mutating func uint32() throws -> UInt32 { try integer(UInt32.self) }
    mutating func uint64() throws -> UInt64 { try integer(UInt64.self) }

    mutating func count(minimumBytesEach: Int, what: String) throws -> Int {
        let n = try uint64()
        guard n <= UInt64(remaining / minimumBytesEach) else {
            throw FormatError(file.path, "\(what) \(n) is impossible for a file of \(file.size) bytes")
        }
        return Int(n)
    }

    mutating func string() throws -> String {
        let length = try uint64()
        guard length <= UInt64(remaining) else {
            throw FormatError(file.path, "string of \(length) bytes at offset \(position) runs past the end of the file")
        }
        return String(decoding: try take(Int(length)), as: UTF8.self)
    }

    mutating func value(of type: GGUFValueType, key: String) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try integer(UInt8.self))
        case .int8: return .int8(try integer(Int8.self))
        case .uint16: return .uint16(try integer(UInt16.self))
        case .int16: return .int16(try integer(Int16.self))
        case .uint32: return .uint32(try integer(UInt32.self))
        case .int32: return .int32(try integer(Int32.self))
        case .uint64: return .uint64(try integer(UInt64.self))
        case .int64: return .int64(try integer(Int64.self))
        case .float32: return .float32(Float(bitPattern: try integer(UInt32.self)))
        case .float64: return .float64(Double(bitPattern: try integer(UInt64.self)))
        case .bool: return .bool(try integer(UInt8.self) != 0)
        case .string: return .string(try string())
        case .array:
            let rawType = try uint32()
            guard let elementType = GGUFValueType(rawValue: rawType), elementType != .array else {
                throw FormatError(file.path, "metadata '\(key)' is an array of unsupported type \(rawType)")
            }
            let count = try self.count(minimumBytesEach: 1, what: "array length of '\(key)'")
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try value(of: elementType, key: key)) }
            return .array(elementType, elements)
        }
    }
}
