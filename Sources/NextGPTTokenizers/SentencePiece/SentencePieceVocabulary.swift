import NextGPTFormats

/// What a SentencePiece model knows about its pieces, in the lookup shapes encoding and decoding need.
/// Immutable and shared between a tokenizer and its stream decoders.
final class SentencePieceVocabulary: Sendable {
    typealias PieceType = SentencePieceModel.PieceType

    let pieces: [String]
    /// Pieces as decoded text (▁ → space), built once so decoding a token is a lookup.
    let surfaces: [String]
    let scores: [Float]
    let types: [PieceType]
    /// Normal, user-defined and unused pieces: the ones text can turn into (sentencepiece's `pieces_`).
    let textPieceIds: PieceTable
    /// Control, unknown and byte pieces: found by exact piece only (sentencepiece's `reserved_id_map_`).
    let reservedIds: PieceTable
    /// User-defined pieces by first byte, longest first: matched whole before any merge.
    let userDefinedByFirstByte: [UInt8: [[UInt8]]]
    /// `<0xXX>` piece ids, when the model falls back to bytes.
    let byteIds: [Int32]?
    let unkId: Int32
    let bosId: Int32
    let eosId: Int32
    let padId: Int32
    let modelType: Int32
    let addDummyPrefix: Bool
    let removeExtraWhitespaces: Bool
    let escapeWhitespaces: Bool
    /// What `<unk>` decodes to (trainer_spec.unk_surface, " ⁇ " by default).
    let unkSurface: String
    /// Longest text piece in bytes: no unigram lattice edge is longer.
    let maxPieceBytes: Int
    /// Unigram scores of normal pieces; sentencepiece starts its maximum at FLT_MIN, not at -FLT_MAX.
    let minScore: Float
    let maxScore: Float

    init(model: SentencePieceModel, extras: SentencePieceModelExtras) throws {
        guard model.pieces.count == model.scores.count, model.pieces.count == model.types.count else {
            throw TokenizerError("SentencePiece model has \(model.pieces.count) pieces, \(model.scores.count) scores and \(model.types.count) types")
        }
        guard model.modelType == 1 || model.modelType == 2 else {
            throw TokenizerError("SentencePiece model type \(model.modelType) is not supported (only unigram = 1 and BPE = 2)")
        }
        if let rule = extras.unsupportedNormalization {
            throw TokenizerError("SentencePiece normalization '\(rule)' (a precompiled character map) is not supported; only identity")
        }
        if extras.treatWhitespaceAsSuffix {
            throw TokenizerError("SentencePiece models with treat_whitespace_as_suffix are not supported")
        }
        pieces = model.pieces
        // Scalars, not Characters: a ▁ followed by a combining mark is one Character.
        surfaces = model.pieces.map { piece in
            var text = String.UnicodeScalarView()
            text.append(contentsOf: piece.unicodeScalars.lazy.map { $0 == "\u{2581}" ? " " : $0 })
            return String(text)
        }
        scores = model.scores
        types = model.types
        var seen = Set<[UInt8]>(), users: [UInt8: [[UInt8]]] = [:]
        var text: [(key: [UInt8], value: Int32)] = [], reserved: [(key: [UInt8], value: Int32)] = []
        var byteIds = [Int32](repeating: -1, count: 256)
        var longest = 1, low = Float.greatestFiniteMagnitude, high = Float.leastNormalMagnitude
        for (index, piece) in model.pieces.enumerated() {
            let id = Int32(index), bytes = Array(piece.utf8)
            guard seen.insert(bytes).inserted else { throw TokenizerError("SentencePiece piece '\(piece)' appears twice") }
            switch model.types[index] {
            case .normal, .userDefined, .unused:
                text.append((bytes, id))
                longest = max(longest, bytes.count)
                if model.types[index] == .userDefined, let first = bytes.first { users[first, default: []].append(bytes) }
                if model.types[index] == .normal { low = min(low, model.scores[index]); high = max(high, model.scores[index]) }
            case .byte:
                reserved.append((bytes, id))
                if let value = Self.byteValue(piece) { byteIds[Int(value)] = id }
            case .control, .unknown:
                reserved.append((bytes, id))
            }
        }
        guard model.unkId >= 0, Int(model.unkId) < model.pieces.count, model.types[Int(model.unkId)] == .unknown else {
            throw TokenizerError("SentencePiece unk id \(model.unkId) is not an unknown piece")
        }
        textPieceIds = PieceTable(text)
        reservedIds = PieceTable(reserved)
        userDefinedByFirstByte = users.mapValues { $0.sorted { $0.count > $1.count } }
        self.byteIds = model.byteFallback ? byteIds.map { $0 >= 0 ? $0 : model.unkId } : nil
        unkId = model.unkId
        bosId = model.bosId
        eosId = model.eosId
        padId = model.padId
        modelType = model.modelType
        addDummyPrefix = model.addDummyPrefix
        removeExtraWhitespaces = model.removeExtraWhitespaces
        escapeWhitespaces = model.escapeWhitespaces
        unkSurface = extras.unkSurface
        maxPieceBytes = longest
        minScore = low
        maxScore = high
    }

    var count: Int { pieces.count }

    func type(of id: Int32) -> PieceType? { id >= 0 && Int(id) < pieces.count ? types[Int(id)] : nil }

    /// sentencepiece's PieceToId: reserved pieces first, then text pieces, else unknown.
    func id(of piece: ArraySlice<UInt8>) -> Int32 { reservedIds.id(piece) ?? textPieceIds.id(piece) ?? unkId }

    static func byteValue(_ piece: String) -> UInt8? {
        guard piece.count == 6, piece.hasPrefix("<0x"), piece.hasSuffix(">") else { return nil }
        return UInt8(piece.dropFirst(3).prefix(2), radix: 16)
    }
}

/// A tokenizer that cannot be built: what is wrong, in words.
public struct TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "tokenizer: \(message)" }
}
