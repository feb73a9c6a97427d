/// Cuts a text at the tokens matched whole before any pre-tokenization (special and added
/// tokens), leftmost first and the longest at a position, as the slow tokenizers' trie and
/// `tokenizers`' added vocabulary do. A token with `lstrip` / `rstrip` (RoBERTa's `<mask>`)
/// takes the whitespace on that side with it.
struct WholeTokenSplitter: Sendable {
    struct Token: Sendable {
        let scalars: [Unicode.Scalar]
        let id: Int
        var lstrip = false
        var rstrip = false
    }

    enum Segment: Equatable {
        case text([Unicode.Scalar])
        case token(Int)
    }

    private let tokens: [Token]

    init(_ tokens: [Token]) {
        self.tokens = tokens.filter { !$0.scalars.isEmpty }
            .sorted { $0.scalars.count != $1.scalars.count ? $0.scalars.count > $1.scalars.count : $0.id < $1.id }
    }

    func split(_ scalars: [Unicode.Scalar]) -> [Segment] {
        var segments: [Segment] = []
        var start = 0, i = 0
        while i < scalars.count {
            let hit = tokens.first { token in
                i + token.scalars.count <= scalars.count && scalars[i..<(i + token.scalars.count)].elementsEqual(token.scalars)
            }
            guard let hit else { i += 1; continue }
            var textEnd = i
            if hit.lstrip { while textEnd > start && scalars[textEnd - 1].properties.isWhitespace { textEnd -= 1 } }
            if start < textEnd { segments.append(.text(Array(scalars[start..<textEnd]))) }
            segments.append(.token(hit.id))
            i += hit.scalars.count
            if hit.rstrip { while i < scalars.count && scalars[i].properties.isWhitespace { i += 1 } }
            start = i
        }
        if start < scalars.count { segments.append(.text(Array(scalars[start...]))) }
        return segments
    }
}
