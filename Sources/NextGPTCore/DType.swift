/// Element types found in upstream checkpoints (safetensors names; torch storages map onto them).
public enum DType: String, Sendable, CaseIterable, Codable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16: return true
        default: return false
        }
    }
}

/// Number of elements of a shape; a 0-rank shape is a scalar of one element.
@inlinable
public func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

/// Element count with overflow checking, for shapes read from untrusted headers.
public func checkedElementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for extent in shape {
        guard extent >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: extent)
        if overflow { return nil }
        count = product
    }
    return count
}
