import NextGPTFormats

/// A string matched whole in the text before SentencePiece sees it, as Hugging Face's slow tokenizer does.
///
/// NExT-GPT builds its tokenizer with `LlamaTokenizer.from_pretrained(vicuna, use_fast=False)` and
/// `add_tokens(...)` under transformers 4.29.2 (its requirements.txt). That version's
/// `PreTrainedTokenizer.tokenize` splits the text on every no-split token (the added tokens and the special
/// `<s>`, `</s>`, `<unk>`), leftmost first; strips the whitespace (Python `str.isspace`) on both sides of a
/// token that is not an `AddedToken` object — every token added with `add_tokens(str)` — while the specials,
/// loaded as `AddedToken(lstrip=False, rstrip=False)`, strip nothing; drops parts left empty; and encodes each
/// remaining part with `sp_model.encode` on its own, so every part gets its own dummy-prefix ▁ (the "legacy"
/// behaviour). So `"a <Img> b"` is `▁a <Img> ▁b` and `"[IMG0] [IMG1]"` is two ids, which NExT-GPT relies on.
/// transformers ≥ 4.34 no longer strips around plain added tokens and 5.x has no slow LlamaTokenizer at all
/// (it gives `▁a ▁ <Img> ▁b`): those are not what the checkpoint was trained with.
/// Tests/Fixtures/tokenizer/spm-cases.json holds cases checked against transformers 4.29.2 itself.
public struct AddedToken: Sendable, Equatable {
    public var text: String
    public var id: Int32
    /// Whether whitespace next to this token is dropped (tokens added with `add_tokens(str)`), or kept (specials).
    public var stripsSurroundingWhitespace: Bool

    public init(text: String, id: Int32, stripsSurroundingWhitespace: Bool) {
        self.text = text
        self.id = id
        self.stripsSurroundingWhitespace = stripsSurroundingWhitespace
    }

    /// The no-split tokens of a slow `LlamaTokenizer` with `added` tokens: the model's `<s>`, `</s>` and `<unk>`
    /// pieces (kept whitespace) and the added ones (stripped whitespace).
    public static func llamaSlowTokenizer(model: SentencePieceModel, added: [(text: String, id: Int32)]) -> [AddedToken] {
        var tokens: [AddedToken] = []
        for id in [model.bosId, model.eosId, model.unkId] where id >= 0 && Int(id) < model.pieces.count {
            if !tokens.contains(where: { $0.id == id }) {
                tokens.append(AddedToken(text: model.pieces[Int(id)], id: id, stripsSurroundingWhitespace: false))
            }
        }
        return tokens + added.map { AddedToken(text: $0.text, id: $0.id, stripsSurroundingWhitespace: true) }
    }
}

/// Splits text into added tokens and the text between them (Unicode scalars, as Python strings are).
package struct AddedTokenMatcher: Sendable {
    enum Part: Equatable {
        case text([Unicode.Scalar])
        case token(AddedToken)
    }

    private let byFirstScalar: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: AddedToken)]]

    init(_ tokens: [AddedToken]) {
        var table: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: AddedToken)]] = [:]
        for token in tokens {
            let scalars = Array(token.text.unicodeScalars)
            table[scalars[0], default: []].append((scalars, token))
        }
        byFirstScalar = table.mapValues { $0.sorted { $0.scalars.count > $1.scalars.count } }
    }

    func split(_ text: String) -> [Part] {
        let scalars = Array(text.unicodeScalars)
        guard !byFirstScalar.isEmpty else { return scalars.isEmpty ? [] : [.text(scalars)] }
        var parts: [Part] = []
        var start = 0, position = 0
        while position < scalars.count {
            let match = byFirstScalar[scalars[position]]?.first { candidate in
                position + candidate.scalars.count <= scalars.count
                    && scalars[position..<(position + candidate.scalars.count)].elementsEqual(candidate.scalars)
            }
            guard let match else { position += 1; continue }
            if position > start { parts.append(.text(Array(scalars[start..<position]))) }
            parts.append(.token(match.token))
            position += match.scalars.count
            start = position
        }
        if start < scalars.count { parts.append(.text(Array(scalars[start...]))) }

        for index in parts.indices {
            guard case .token(let token) = parts[index], token.stripsSurroundingWhitespace else { continue }
            if index > 0, case .text(let left) = parts[index - 1] {
                parts[index - 1] = .text(Array(left[..<(left.lastIndex { !Self.isPythonWhitespace($0) }.map { $0 + 1 } ?? 0)]))
            }
            if index + 1 < parts.count, case .text(let right) = parts[index + 1] {
                parts[index + 1] = .text(Array(right[(right.firstIndex { !Self.isPythonWhitespace($0) } ?? right.count)...]))
            }
        }
        return parts.filter { $0 != .text([]) }
    }

    /// Python's `str.isspace`, which `str.strip` uses: Unicode category Zs or bidi class WS, B, S.
    package static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }
}
