import NextGPTFormats
/// The few `tokenizer.model` fields that `SentencePieceModel` does not keep but exact encoding and decoding
/// depend on: the unknown piece's surface, and whether normalization or whitespace handling is something this
/// tokenizer does not implement (so it refuses the model instead of encoding differently).
struct SentencePieceModelExtras: Sendable {
    var unkSurface = " \u{2047} "
    /// The normalizer's rule name when it carries a precompiled character map (NFKC and friends).
    var unsupportedNormalization: String?
    var treatWhitespaceAsSuffix = false

    init() {}

    /// Reads a serialized ModelProto: field 2 is trainer_spec (24 treat_whitespace_as_suffix, 44 unk_surface),
    /// field 3 normalizer_spec (1 name, 2 precompiled_charsmap).
    init(modelBytes: [UInt8]) throws {
        var model = ProtoScanner(bytes: modelBytes[...])
        while let (field, wire) = try model.nextField() {
            guard wire == 2, field == 2 || field == 3 else { try model.skip(wire); continue }
            var message = ProtoScanner(bytes: try model.lengthDelimited())
            var name = "", hasCharsMap = false
            while let (inner, innerWire) = try message.nextField() {
                switch (field, inner, innerWire) {
                case (2, 24, 0): treatWhitespaceAsSuffix = try message.varint() != 0
                case (2, 44, 2): unkSurface = String(decoding: try message.lengthDelimited(), as: UTF8.self)
                case (3, 1, 2): name = String(decoding: try message.lengthDelimited(), as: UTF8.self)
                case (3, 2, 2): hasCharsMap = !(try message.lengthDelimited()).isEmpty
                default: try message.skip(innerWire)
                }
            }
            if field == 3, hasCharsMap { unsupportedNormalization = name.isEmpty ? "unnamed" : name }
        }
    }
}

/// Protocol-buffer wire format, just enough to walk a message and skip what is not needed.
private struct ProtoScanner {
    var bytes: ArraySlice<UInt8>

    mutating func nextField() throws -> (Int, Int)? {
        if bytes.isEmpty { return nil }
        let key = try varint()
        return (Int(key >> 3), Int(key & 7))
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while let byte = bytes.popFirst() {
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift >= 64 { break }
        }
        throw TokenizerError("malformed SentencePiece model (bad varint)")
    }

    mutating func lengthDelimited() throws -> ArraySlice<UInt8> {
        let length = try varint()
        guard length <= UInt64(bytes.count) else { throw TokenizerError("malformed SentencePiece model (truncated field)") }
        defer { bytes = bytes.dropFirst(Int(length)) }
        return bytes.prefix(Int(length))
    }

    mutating func skip(_ wire: Int) throws {
        let width: Int
        switch wire {
        case 0: _ = try varint(); return
        case 2: _ = try lengthDelimited(); return
        case 1: width = 8
        case 5: width = 4
        default: throw TokenizerError("malformed SentencePiece model (wire type \(wire))")
        }
        guard bytes.count >= width else { throw TokenizerError("malformed SentencePiece model (truncated field)") }
        bytes = bytes.dropFirst(width)
    }
}
