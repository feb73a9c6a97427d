import CNextGPTKernels

/// One tensor of an upstream checkpoint: name, dtype, shape, and where its bytes are.
/// Nothing is read until `readBytes()` / `readFloats()` is called.
public struct SourceTensor: Sendable {
    /// The name under which the tensor is used; layout adapters rename (e.g. LDM → diffusers names).
    public var name: String
    /// The key as written in the file, for error messages.
    public let originalName: String
    public let dtype: DType
    /// PyTorch order (outermost first). Layout adapters may reshape without moving bytes.
    public var shape: [Int]
    public let file: RandomAccessFile
    /// Byte offset of element [0, 0, …] in the file.
    public let byteOffset: Int
    /// Strides in elements when the tensor is a non-contiguous view (torch); nil when contiguous.
    public let strides: [Int]?
    /// Storage byte order is big-endian (torch `byteorder` = "big").
    public let bigEndian: Bool

    public init(name: String, dtype: DType, shape: [Int], file: RandomAccessFile, byteOffset: Int,
                strides: [Int]? = nil, bigEndian: Bool = false) {
        self.name = name
        self.originalName = name
        self.dtype = dtype
        self.shape = shape
        self.file = file
        self.byteOffset = byteOffset
        self.strides = strides.flatMap { SourceTensor.isContiguous(shape: shape, strides: $0) ? nil : $0 }
        self.bigEndian = bigEndian
    }

    public var elementCount: Int { NextGPTCore.elementCount(shape) }
    public var byteCount: Int { elementCount * dtype.byteSize }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = acc
            acc *= shape[i]
        }
        return strides
    }

    static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
        let expected = contiguousStrides(shape)
        for i in 0..<shape.count where shape[i] != 1 && strides[i] != expected[i] { return false }
        return true
    }

    /// Reads the tensor as contiguous little-endian bytes in row-major order.
    public func readBytes() throws -> [UInt8] {
        // Uninitialized: every byte is overwritten, and zero-filling gigabytes costs real time.
        try [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, count in
            try read(into: UnsafeMutableRawBufferPointer(buffer))
            count = byteCount
        }
    }

    /// Fills `buffer` (exactly `byteCount` bytes) with the contiguous little-endian bytes.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws {
        precondition(buffer.count == byteCount)
        if byteCount == 0 { return }
        do {
            if let strides {
                try gather(into: buffer, strides: strides)
            } else {
                try file.read(into: buffer, at: byteOffset)
            }
        } catch let error as FormatError {
            throw FormatError(error.file, tensor: originalName, error.message)
        }
        if bigEndian && dtype.byteSize > 1 { swapBytes(buffer, width: dtype.byteSize) }
    }

    /// Reads and converts to f32 (floats widen or round as torch's `.float()` does; integers convert).
    public func readFloats() throws -> [Float] {
        let bytes = try readBytes()
        return SourceTensor.floats(from: bytes, dtype: dtype)
    }

    public static func floats(from bytes: [UInt8], dtype: DType) -> [Float] {
        let n = bytes.count / dtype.byteSize
        return [Float](unsafeUninitializedCapacity: n) { dst, initialized in
            initialized = n
            bytes.withUnsafeBytes { convertToFloats($0, dtype: dtype, into: dst) }
        }
    }

    /// Converts little-endian elements of `dtype` to f32 (`dst.count` elements).
    public static func convertToFloats(_ raw: UnsafeRawBufferPointer, dtype: DType, into dst: UnsafeMutableBufferPointer<Float>) {
        let n = dst.count
        precondition(raw.count == n * dtype.byteSize)
        guard n > 0 else { return }
        let d = dst.baseAddress!
        switch dtype {
        case .f32: UnsafeMutableRawBufferPointer(dst).copyMemory(from: raw)
        case .f16: ngk_fp16_to_fp32_row(raw.bindMemory(to: UInt16.self).baseAddress, d, n)
        case .bf16: ngk_bf16_to_fp32_row(raw.bindMemory(to: UInt16.self).baseAddress, d, n)
        case .f64: for i in 0..<n { d[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case .i64: for i in 0..<n { d[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        case .i32: for i in 0..<n { d[i] = Float(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .i16: for i in 0..<n { d[i] = Float(raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
        case .i8: for i in 0..<n { d[i] = Float(Int8(bitPattern: raw[i])) }
        case .u8, .bool: for i in 0..<n { d[i] = Float(raw[i]) }
        }
    }

    /// Copies a strided view element by element from the smallest byte span that covers it.
    private func gather(into buffer: UnsafeMutableRawBufferPointer, strides: [Int]) throws {
        let width = dtype.byteSize
        var lowest = 0, highest = 0
        for (extent, stride) in zip(shape, strides) where extent > 1 {
            if stride < 0 { lowest += (extent - 1) * stride } else { highest += (extent - 1) * stride }
        }
        let spanStart = byteOffset + lowest * width
        let span = try file.read(at: spanStart, count: (highest - lowest + 1) * width)
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var source = -lowest
        span.withUnsafeBytes { src in
            for element in 0..<elementCount {
                (buffer.baseAddress! + element * width).copyMemory(from: src.baseAddress! + source * width, byteCount: width)
                var axis = rank - 1
                while axis >= 0 {
                    index[axis] += 1
                    source += strides[axis]
                    if index[axis] < shape[axis] { break }
                    source -= strides[axis] * shape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
    }

    private func swapBytes(_ buffer: UnsafeMutableRawBufferPointer, width: Int) {
        let bytes = buffer.bindMemory(to: UInt8.self)
        var i = 0
        while i < bytes.count {
            var a = i, b = i + width - 1
            while a < b { bytes.swapAt(a, b); a += 1; b -= 1 }
            i += width
        }
    }
}
