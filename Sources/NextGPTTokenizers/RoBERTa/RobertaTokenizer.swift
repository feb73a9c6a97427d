/// transformers' `RobertaTokenizer` (5.x: the `tokenizers`-backed one, which `RobertaTokenizerFast`
/// also is) as AudioLDM's CLAP text encoder uses it:
///
/// 1. the text is cut at the special and added tokens, matched whole (`<mask>` takes the
///    whitespace before it, as `RobertaTokenizer` makes it `lstrip`);
/// 2. each remaining piece is split by GPT-2's pattern (`ByteLevelPreTokenizer`, no prefix space,
///    no lower-casing or clean-up), each match's UTF-8 bytes become the printable byte symbols
///    and byte-pair merges by rank give the pieces (no end-of-word marker);
/// 3. pieces become ids through the vocabulary (a piece the vocabulary lacks, which RoBERTa's
///    full byte alphabet never leaves, becomes the unk token's id);
/// 4. `<s>` ids `</s>`, cut to `max_length − 2` ids first when truncating, then `<pad>` up to
///    `max_length` with attention mask 0 when padding to the maximum length.
public struct RobertaTokenizer: Sendable {
    /// Tokens by id.
    public let tokens: [String]
    public let bosTokenId: Int
    public let eosTokenId: Int
    public let padTokenId: Int
    public let unkTokenId: Int
    /// `model_max_length` (512 for CLAP's).
    public let modelMaxLength: Int
    let ids: [String: Int]
    private let merges: BytePairMerges
    private let wholeTokens: WholeTokenSplitter

    /// One text's `input_ids` and `attention_mask`.
    public struct Encoding: Sendable, Equatable {
        public var ids: [Int]
        public var attentionMask: [Int]
    }

    /// - `merges`: "left right" lines in rank order (header removed).
    /// - `maskToken`: matched whole with the whitespace before it.
    /// - `addedTokens`: further tokens matched whole, with their ids.
    public init(tokens: [String], merges: [String], bosToken: String = "<s>", eosToken: String = "</s>",
                unkToken: String = "<unk>", padToken: String = "<pad>", maskToken: String? = "<mask>",
                modelMaxLength: Int, addedTokens: [String: Int] = [:]) throws {
        self.tokens = tokens
        var ids = [String: Int](minimumCapacity: tokens.count)
        for (id, token) in tokens.enumerated() where ids[token] == nil { ids[token] = id }
        for (token, id) in addedTokens { ids[token] = id }
        self.ids = ids
        self.merges = BytePairMerges(merges)
        func id(_ token: String, _ role: String) throws -> Int {
            guard let id = ids[token] else { throw TokenizerError("the \(role) token '\(token)' is not in the vocabulary") }
            return id
        }
        bosTokenId = try id(bosToken, "bos")
        eosTokenId = try id(eosToken, "eos")
        unkTokenId = try id(unkToken, "unk")
        padTokenId = try id(padToken, "pad")
        guard modelMaxLength >= 2 else { throw TokenizerError("model_max_length \(modelMaxLength) leaves no room for <s> and </s>") }
        self.modelMaxLength = modelMaxLength
        var whole: [String: WholeTokenSplitter.Token] = [:]
        for (token, id) in addedTokens { whole[token] = .init(scalars: Array(token.unicodeScalars), id: id) }
        for token in [bosToken, eosToken, unkToken, padToken] {
            whole[token] = .init(scalars: Array(token.unicodeScalars), id: ids[token]!)
        }
        if let maskToken {
            whole[maskToken] = .init(scalars: Array(maskToken.unicodeScalars), id: try id(maskToken, "mask"), lstrip: true)
        }
        wholeTokens = WholeTokenSplitter(Array(whole.values))
    }

    /// `tokenizer(text, padding=…, max_length=…, truncation=…)`: `maxLength` defaults to
    /// `model_max_length`; with `padToMaxLength` the ids are padded to it (attention mask 0 there).
    public func callAsFunction(_ text: String, maxLength: Int? = nil, padToMaxLength: Bool = true, truncation: Bool = true) -> Encoding {
        let length = max(maxLength ?? modelMaxLength, 2)
        var body = tokenize(text)
        if truncation && body.count > length - 2 { body = Array(body.prefix(length - 2)) }
        var ids = [bosTokenId] + body + [eosTokenId]
        var mask = [Int](repeating: 1, count: ids.count)
        if padToMaxLength && ids.count < length {
            mask += [Int](repeating: 0, count: length - ids.count)
            ids += [Int](repeating: padTokenId, count: length - ids.count)
        }
        return Encoding(ids: ids, attentionMask: mask)
    }

    /// `<s>` + the text's ids + `</s>`, no truncation or padding.
    public func encode(_ text: String) -> [Int] { [bosTokenId] + tokenize(text) + [eosTokenId] }

    /// The text's ids without `<s>` / `</s>`.
    public func tokenize(_ text: String) -> [Int] {
        var out: [Int] = []
        for segment in wholeTokens.split(Array(text.unicodeScalars)) {
            switch segment {
            case .token(let id): out.append(id)
            case .text(let scalars):
                for match in ByteLevelPreTokenizer.matches(scalars) {
                    let symbols = String(String.UnicodeScalarView(match)).utf8.map { CLIPByteSymbols.symbol[Int($0)] }
                    for piece in merges.merge(symbols) { out.append(ids[piece] ?? unkTokenId) }
                }
            }
        }
        return out
    }
}
