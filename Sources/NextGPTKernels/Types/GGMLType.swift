import CNextGPTKernels
import NextGPTCore

/// Tensor types of the container: ggml's type ids and block layouts, so GGUF tools read them.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q8_0 = 8, q4_K = 12
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30

    /// Elements per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .q4_0, .q8_0: return 32
        case .q4_K: return 256
        default: return 1
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8: return 1
        case .i64, .f64: return 8
        case .q4_0: return Int(NGK_Q4_0_BYTES)
        case .q8_0: return Int(NGK_Q8_0_BYTES)
        case .q4_K: return Int(NGK_Q4_K_BYTES)
        }
    }

    public var isQuantized: Bool { blockSize > 1 }

    /// ggml's lower-case name ("q4_K" keeps ggml's capital K).
    public var description: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .bf16: return "bf16"
        case .q4_0: return "q4_0"
        case .q8_0: return "q8_0"
        case .q4_K: return "q4_K"
        case .i8: return "i8"
        case .i16: return "i16"
        case .i32: return "i32"
        case .i64: return "i64"
        case .f64: return "f64"
        }
    }

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
