import NextGPTFormats

/// SentencePiece tokenizer (BPE as LLaMA uses it, and unigram) that encodes exactly as the `sentencepiece`
/// library does, plus whole-token matching of added tokens the way NExT-GPT's slow Hugging Face
/// `LlamaTokenizer` does it (see `AddedToken`).
///
///     let tokenizer = try SentencePieceTokenizer(metadata: file.metadata)      // vicuna + nextgpt added tokens
///     let ids = tokenizer.encode("### Human: hi\n### Assistant:", addBOS: true)
///     var stream = tokenizer.makeStreamDecoder()
///     for id in generated { print(stream.push(id), terminator: "") }
///     print(stream.finish())
public struct SentencePieceTokenizer: Sendable {
    let vocabulary: SentencePieceVocabulary
    public let addedTokens: [AddedToken]
    private let matcher: AddedTokenMatcher
    private let addedTextById: [Int32: String]

    /// From the bytes of a `tokenizer.model`.
    public init(modelBytes: [UInt8], addedTokens: [AddedToken] = [], source: String = "tokenizer.model") throws {
        let model: SentencePieceModel
        do { model = try SentencePieceModel(bytes: modelBytes, path: source) } catch {
            throw TokenizerError("\(error)")
        }
        try self.init(model: model, extras: try SentencePieceModelExtras(modelBytes: modelBytes), addedTokens: addedTokens)
    }

    /// From an already parsed model; `<unk>` then decodes to sentencepiece's default " ⁇ ".
    public init(model: SentencePieceModel, addedTokens: [AddedToken] = []) throws {
        try self.init(model: model, extras: SentencePieceModelExtras(), addedTokens: addedTokens)
    }

    init(model: SentencePieceModel, extras: SentencePieceModelExtras, addedTokens: [AddedToken]) throws {
        vocabulary = try SentencePieceVocabulary(model: model, extras: extras)
        var texts = Set<[UInt8]>(), ids = Set<Int32>()  // bytes: distinct strings may be canonically equal
        for token in addedTokens {
            guard !token.text.isEmpty else { throw TokenizerError("added token \(token.id) has empty text") }
            guard token.id >= 0, texts.insert(Array(token.text.utf8)).inserted, ids.insert(token.id).inserted else {
                throw TokenizerError("added token '\(token.text)' (id \(token.id)) is negative or repeats a text or id")
            }
        }
        self.addedTokens = addedTokens
        matcher = AddedTokenMatcher(addedTokens)
        // Added tokens inside the vocabulary (<s>, </s>, <unk>) decode as their pieces do.
        addedTextById = Dictionary(uniqueKeysWithValues: addedTokens.filter { Int($0.id) >= model.pieces.count }.map { ($0.id, $0.text) })
    }

    public var bosId: Int32 { vocabulary.bosId }
    public var eosId: Int32 { vocabulary.eosId }
    public var unkId: Int32 { vocabulary.unkId }
    /// Pieces of the SentencePiece model.
    public var pieceCount: Int { vocabulary.count }
    /// Every id this tokenizer can produce or name: the model's pieces and the added tokens.
    public var vocabularySize: Int { max(vocabulary.count, (addedTokens.map { Int($0.id) }.max() ?? -1) + 1) }

    /// The piece (or added token text) for `id`, nil when the id names neither.
    public func piece(_ id: Int32) -> String? {
        if let text = addedTextById[id] { return text }
        return vocabulary.type(of: id) != nil ? vocabulary.pieces[Int(id)] : nil
    }

    /// Token ids of `text`: split on the added tokens (see `AddedToken`), every other part encoded by `encodePieces`.
    public func encode(_ text: String, addBOS: Bool = true) -> [Int32] {
        var ids: [Int32] = addBOS && vocabulary.bosId >= 0 ? [vocabulary.bosId] : []
        for part in matcher.split(text) {
            switch part {
            case .token(let token): ids.append(token.id)
            case .text(let scalars):
                var string = String.UnicodeScalarView()
                string.append(contentsOf: scalars)
                ids += encodePieces(String(string))
            }
        }
        return ids
    }

    /// Exactly `sentencepiece`'s `encode(text)`: no added tokens, no BOS.
    public func encodePieces(_ text: String) -> [Int32] {
        let v = vocabulary
        let normalized = SentencePieceNormalizer.normalize(Array(text.utf8), vocabulary: v)
        let segments = v.modelType == 2
            ? BPESegmenter.segment(normalized, vocabulary: v) : UnigramSegmenter.segment(normalized, vocabulary: v)
        var ids: [Int32] = []
        ids.reserveCapacity(segments.count)
        var previousWasUnknown = false
        for segment in segments {
            let unknown = v.types[Int(segment.id)] == .unknown
            if unknown, let bytes = v.byteIds {
                ids += normalized[segment.range].map { bytes[Int($0)] }
            } else if !(unknown && previousWasUnknown) {
                ids.append(segment.id)  // a run of unknown characters is one <unk>, as upstream merges them
            }
            previousWasUnknown = unknown
        }
        return ids
    }

    /// Text of `ids` as `sentencepiece`'s `decode` gives it; added tokens show their text.
    public func decode(_ ids: [Int32]) -> String {
        var stream = makeStreamDecoder()
        var parts = ids.map { stream.push($0) }
        parts.append(stream.finish())
        return parts.joined()
    }

    public func makeStreamDecoder() -> SentencePieceStreamDecoder {
        SentencePieceStreamDecoder(vocabulary: vocabulary, addedTokens: addedTextById)
    }
}
