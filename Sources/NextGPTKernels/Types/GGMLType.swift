import CNextGPTKernels
import NextGPTCore

/// Tensor types of the container: ggml's type ids and block layouts, so GGUF tools read them.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q8_0 = 8, q4_K = 12
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30

    /// Elements per block (1 for plain types).
    public var blockSize: Int { traits.blockSize }

    /// Bytes per block.
    public var blockBytes: Int { traits.blockBytes }

    public var isQuantized: Bool { blockSize > 1 }

    /// ggml's lower-case name ("q4_K" keeps ggml's capital K).
    public var description: String { traits.name }

    /// Parses a user-facing name, case-insensitively ("q4_k", "Q8_0", "f16").
    public init?(name: String) {
        guard let match = GGMLType.allCases.first(where: { $0.description.lowercased() == name.lowercased() }) else { return nil }
        self = match
    }

    /// Bytes of `count` elements; nil when `count` is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        guard count % blockSize == 0 else { return nil }
        return count / blockSize * blockBytes
    }

    /// The plain type that holds a checkpoint dtype without loss, if any.
    public init?(lossless dtype: DType) {
        switch dtype {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        case .f64: self = .f64
        case .i64: self = .i64
        case .i32: self = .i32
        case .i16: self = .i16
        case .i8: self = .i8
        case .u8, .bool: return nil
        }
    }
}
