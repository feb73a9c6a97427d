import Foundation

/// transformers' slow `CLIPTokenizer` (the one diffusers' Stable Diffusion pipelines load from
/// `tokenizer/`) on its no-ftfy path:
///
/// 1. the text is cut at the special and added tokens (matched exactly, longest first);
/// 2. each remaining piece is cleaned as `BasicTokenizer(strip_accents=False, do_split_on_punc=False)`
///    does (`CLIPTextCleaner`) and lower-cased word by word;
/// 3. CLIP's pattern splits the words (`CLIPPreTokenizer`), each match's UTF-8 bytes become the
///    printable byte symbols, and byte-pair merges by rank give the pieces, the last one ending in `</w>`;
/// 4. pieces become ids through the vocabulary (unknown pieces → the unk token's id).
public struct CLIPTokenizer: Sendable {
    /// Tokens by id.
    public let tokens: [String]
    public let bosTokenId: Int
    public let eosTokenId: Int
    public let padTokenId: Int
    public let unkTokenId: Int
    /// `model_max_length` (77 for every CLIP text encoder).
    public let modelMaxLength: Int
    let ids: [String: Int]
    private let mergeRanks: BytePairMerges
    /// Texts matched whole before any clean-up (special and added tokens), longest first.
    private let unsplittable: WholeTokenSplitter

    /// The slow tokenizer reads merges.txt lines 1 ..< 49152 − 256 − 2 + 1 (line 0 being the
    /// `#version` header, which the container does not keep): CLIP's 48 894 merges at most.
    public static let maximumMerges = 49152 - 256 - 2

    /// - `merges`: "left right" lines in rank order (header removed); lines that are not two
    ///   symbols never match, as in the slow tokenizer.
    /// - `addedTokens`: further tokens matched whole (added_tokens.json, `added_tokens_decoder`),
    ///   with their ids.
    public init(tokens: [String], merges: [String], bosToken: String, eosToken: String, unkToken: String, padToken: String,
                modelMaxLength: Int, addedTokens: [String: Int] = [:]) throws {
        self.tokens = tokens
        var ids = [String: Int](minimumCapacity: tokens.count)
        for (id, token) in tokens.enumerated() where ids[token] == nil { ids[token] = id }
        for (token, id) in addedTokens { ids[token] = id }
        self.ids = ids
        mergeRanks = BytePairMerges(merges, limit: Self.maximumMerges)
        func id(_ token: String, _ role: String) throws -> Int {
            guard let id = ids[token] else { throw TokenizerError("the \(role) token '\(token)' is not in the vocabulary") }
            return id
        }
        bosTokenId = try id(bosToken, "bos")
        eosTokenId = try id(eosToken, "eos")
        unkTokenId = try id(unkToken, "unk")
        padTokenId = try id(padToken, "pad")
        guard modelMaxLength >= 2 else { throw TokenizerError("model_max_length \(modelMaxLength) leaves no room for BOS and EOS") }
        self.modelMaxLength = modelMaxLength
        var whole = [String: Int]()
        for token in [bosToken, eosToken, unkToken, padToken] { whole[token] = ids[token] }
        for (token, id) in addedTokens { whole[token] = id }
        // none of CLIP's tokens strips the spaces around it
        unsplittable = WholeTokenSplitter(whole.map { .init(scalars: Array($0.key.unicodeScalars), id: $0.value) })
    }

    /// BOS + the text's ids + EOS, no truncation (`tokenizer(text).input_ids`).
    public func encode(_ text: String) -> [Int] { [bosTokenId] + tokenize(text) + [eosTokenId] }

    /// `tokenizer(text, padding="max_length", max_length=maxLength, truncation=True).input_ids`:
    /// the text's ids cut to `maxLength − 2`, between BOS and EOS, then pad ids up to `maxLength`
    /// when `padToMaxLength` (diffusers' `encode_prompt` call, with the model's 77).
    public func callAsFunction(_ text: String, maxLength: Int? = nil, padToMaxLength: Bool = true, truncation: Bool = true) -> [Int] {
        let length = max(maxLength ?? modelMaxLength, 2)
        var body = tokenize(text)
        if truncation && body.count > length - 2 { body = Array(body.prefix(length - 2)) }
        var ids = [bosTokenId] + body + [eosTokenId]
        if padToMaxLength && ids.count < length { ids += [Int](repeating: padTokenId, count: length - ids.count) }
        return ids
    }

    /// The text's ids without BOS / EOS.
    public func tokenize(_ text: String) -> [Int] {
        var out: [Int] = []
        for segment in unsplittable.split(Array(text.unicodeScalars)) {
            switch segment {
            case .token(let id): out.append(id)
            case .text(let scalars):
                for word in CLIPTextCleaner.words(scalars) {
                    for match in CLIPPreTokenizer.matches(word) {
                        for piece in bytePairEncode(match) { out.append(ids[piece] ?? unkTokenId) }
                    }
                }
            }
        }
        return out
    }

    /// The pieces of one pattern match (special-token texts the pattern itself matches stay whole,
    /// as the slow tokenizer's `bpe` cache has them).
    func bytePairEncode(_ match: [Unicode.Scalar]) -> [String] {
        let text = String(String.UnicodeScalarView(match))
        if text == "<|startoftext|>" || text == "<|endoftext|>" { return [text] }
        var word = Array(text.utf8).map { CLIPByteSymbols.symbol[Int($0)] }
        guard !word.isEmpty else { return [] }
        word[word.count - 1] += "</w>"
        return mergeRanks.merge(word)
    }
}

/// GPT-2 / CLIP `bytes_to_unicode()`: each byte's printable stand-in. Printable Latin-1 bytes
/// stand for themselves; the other 68 take U+0100 onwards in byte order.
enum CLIPByteSymbols {
    static let symbol: [String] = {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var table = [String](repeating: "", count: 256)
        var next = 0x100
        for byte in 0..<256 {
            let code = printable.contains(byte) ? byte : { defer { next += 1 }; return next }()
            table[byte] = String(Character(Unicode.Scalar(UInt32(code))!))
        }
        return table
    }()
}
