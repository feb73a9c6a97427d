import NextGPTCore

/// The parts of a SentencePiece `tokenizer.model` (a serialized `ModelProto`) that a runtime
/// needs: pieces with scores and types, the model type and special ids, and the normalizer flags.
/// Decoded directly from the protobuf wire format: the schema is tiny and fixed, so a generated
/// message class (and protoc in the build) would cost more than these few fields.
public struct SentencePieceModel: Sendable {
    /// Piece types as sentencepiece numbers them (also ggml's `tokenizer.ggml.token_type`).
    public enum PieceType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public var pieces: [String] = []
    public var scores: [Float] = []
    public var types: [PieceType] = []
    /// 1 = unigram, 2 = BPE, 3 = word, 4 = char.
    public var modelType: Int32 = 1
    public var unkId: Int32 = 0
    public var bosId: Int32 = 1
    public var eosId: Int32 = 2
    public var padId: Int32 = -1
    public var byteFallback = false
    public var addDummyPrefix = true
    public var removeExtraWhitespaces = true
    public var escapeWhitespaces = true
    public var splitDigits = false

    public init(bytes: [UInt8], path: String) throws {
        var reader = WireReader(bytes: bytes[...], path: path)
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, 2): try parsePiece(try reader.lengthDelimited(), path: path)
            case (2, 2): try parseTrainerSpec(try reader.lengthDelimited(), path: path)
            case (3, 2): try parseNormalizerSpec(try reader.lengthDelimited(), path: path)
            default: try reader.skip(wire)
            }
        }
        guard !pieces.isEmpty else { throw FormatError(path, "SentencePiece model has no pieces") }
    }

    private mutating func parsePiece(_ slice: ArraySlice<UInt8>, path: String) throws {
        var reader = WireReader(bytes: slice, path: path)
        var piece = "", score: Float = 0, type = PieceType.normal
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, 2): piece = String(decoding: try reader.lengthDelimited(), as: UTF8.self)
            case (2, 5): score = Float(bitPattern: try reader.fixed32())
            case (3, 0):
                let raw = Int32(truncatingIfNeeded: try reader.varint())
                guard let t = PieceType(rawValue: raw) else { throw FormatError(path, "piece '\(piece)' has unknown type \(raw)") }
                type = t
            default: try reader.skip(wire)
            }
        }
        pieces.append(piece)
        scores.append(score)
        types.append(type)
    }

    private mutating func parseTrainerSpec(_ slice: ArraySlice<UInt8>, path: String) throws {
        var reader = WireReader(bytes: slice, path: path)
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (3, 0): modelType = Int32(truncatingIfNeeded: try reader.varint())
            case (25, 0): splitDigits = try reader.varint() != 0
            case (35, 0): byteFallback = try reader.varint() != 0
            case (40, 0): unkId = Int32(truncatingIfNeeded: try reader.varint())
            case (41, 0): bosId = Int32(truncatingIfNeeded: try reader.varint())
            case (42, 0): eosId = Int32(truncatingIfNeeded: try reader.varint())
            case (43, 0): padId = Int32(truncatingIfNeeded: try reader.varint())
            default: try reader.skip(wire)
            }
        }
    }

    private mutating func parseNormalizerSpec(_ slice: ArraySlice<UInt8>, path: String) throws {
        var reader = WireReader(bytes: slice, path: path)
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (3, 0): addDummyPrefix = try reader.varint() != 0
            case (4, 0): removeExtraWhitespaces = try reader.varint() != 0
            case (5, 0): escapeWhitespaces = try reader.varint() != 0
            default: try reader.skip(wire)
            }
        }
    }
}

/// Protocol-buffer wire format: varints, fixed 32/64-bit values and length-delimited fields.
struct WireReader {
    var bytes: ArraySlice<UInt8>
    let path: String

    mutating func nextField() throws -> (Int, Int)? {
        if bytes.isEmpty { return nil }
        let key = try varint()
        return (Int(key >> 3), Int(key & 7))
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = bytes.first {
            bytes = bytes.dropFirst()
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift >= 64 { break }
        }
        throw FormatError(path, "malformed protobuf varint")
    }

    mutating func fixed32() throws -> UInt32 {
        guard bytes.count >= 4 else { throw FormatError(path, "truncated protobuf fixed32") }
        var v: UInt32 = 0
        for (i, b) in bytes.prefix(4).enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        bytes = bytes.dropFirst(4)
        return v
    }

    mutating func lengthDelimited() throws -> ArraySlice<UInt8> {
        let length = try varint()
        guard length <= UInt64(bytes.count) else { throw FormatError(path, "truncated protobuf field (\(length) bytes declared)") }
        let slice = bytes.prefix(Int(length))
        bytes = bytes.dropFirst(Int(length))
        return slice
    }

    mutating func skip(_ wire: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1:
            guard bytes.count >= 8 else { throw FormatError(path, "truncated protobuf fixed64") }
            bytes = bytes.dropFirst(8)
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        default: throw FormatError(path, "unsupported protobuf wire type \(wire)")
        }
    }
}
