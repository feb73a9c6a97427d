/// GPT-2's pre-tokenizer pattern as `tokenizers`' `ByteLevel(add_prefix_space=false,
/// use_regex=true)` applies it (RoBERTa, CLAP):
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, case-sensitive,
/// with Oniguruma's Unicode `\s` (the White_Space property). No lower-casing, no clean-up.
enum ByteLevelPreTokenizer {
    static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }

    static func matches(_ text: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = []
        var i = 0
        while i < text.count {
            let length = matchLength(text, at: i)
            out.append(Array(text[i..<(i + length)]))
            i += length
        }
        return out
    }

    private static func matchLength(_ s: [Unicode.Scalar], at i: Int) -> Int {
        if s[i] == "'" {
            for suffix in contractions where i + 1 + suffix.count <= s.count && s[(i + 1)..<(i + 1 + suffix.count)].elementsEqual(suffix) {
                return suffix.count + 1
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional ASCII space, then a run of one class.
        let first = s[i] == " " && i + 1 < s.count ? i + 1 : i
        let classes: [(Unicode.Scalar) -> Bool] = [isLetter, isNumber, { !isSpace($0) && !isLetter($0) && !isNumber($0) }]
        for belongs in classes where belongs(s[first]) {
            var j = first + 1
            while j < s.count && belongs(s[j]) { j += 1 }
            return j - i
        }
        // whitespace: `\s+(?!\S)` keeps the run's last character for the next word when one
        // follows; a single whitespace before a word falls through to `\s+`.
        var j = i + 1
        while j < s.count && isSpace(s[j]) { j += 1 }
        if j == s.count || j - i == 1 { return j - i }
        return j - i - 1
    }

    static func isLetter(_ s: Unicode.Scalar) -> Bool { CLIPPreTokenizer.isLetter(s) }
    static func isNumber(_ s: Unicode.Scalar) -> Bool { CLIPPreTokenizer.isNumber(s) }
    static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }
}
