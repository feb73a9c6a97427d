/// GGUF metadata value types (gguf_type ids) and values.
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    /// Arrays are homogeneous and never nested (ggml's reader refuses nested arrays).
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        case .array: return .array
        }
    }

    public static func strings(_ values: [String]) -> GGUFValue { .array(.string, values.map { .string($0) }) }
    public static func uint64s(_ values: [UInt64]) -> GGUFValue { .array(.uint64, values.map { .uint64($0) }) }
    public static func int64s(_ values: [Int64]) -> GGUFValue { .array(.int64, values.map { .int64($0) }) }
    public static func uint32s(_ values: [UInt32]) -> GGUFValue { .array(.uint32, values.map { .uint32($0) }) }
    public static func int32s(_ values: [Int32]) -> GGUFValue { .array(.int32, values.map { .int32($0) }) }
    public static func float32s(_ values: [Float]) -> GGUFValue { .array(.float32, values.map { .float32($0) }) }
    public static func bytes(_ values: [UInt8]) -> GGUFValue { .array(.uint8, values.map { .uint8($0) }) }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }

    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    public var arrayValue: [GGUFValue]? { if case .array(_, let a) = self { return a } else { return nil } }
    public var stringArray: [String]? { arrayValue?.compactMap(\.stringValue) }
    public var intArray: [Int]? { arrayValue?.compactMap(\.intValue) }
}
