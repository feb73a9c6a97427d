import Foundation

/// The slow `CLIPTokenizer`'s clean-up without ftfy: `BasicTokenizer(strip_accents=False,
/// do_split_on_punc=False).tokenize(text)`, i.e.
/// - drop U+0000, U+FFFD and control characters (category C*, except tab / newline / return),
///   turn tab, newline, return and space separators (Zs) into spaces;
/// - put spaces around CJK ideographs (so each becomes a word of its own);
/// - NFC, split on Python's `str.split()` whitespace, lower-case each word as Python's
///   `str.lower()` does (full mappings, final sigma).
/// Accents stay and punctuation is not split off.
enum CLIPTextCleaner {
    static func words(_ text: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var cleaned = String.UnicodeScalarView()
        for scalar in text {
            if scalar.value == 0 || scalar.value == 0xFFFD || isControl(scalar) { continue }
            if isWhitespace(scalar) {
                cleaned.append(" ")
            } else if isCJKIdeograph(scalar) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                cleaned.append(scalar)
            }
        }
        let normalized = String(cleaned).precomposedStringWithCanonicalMapping
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for scalar in normalized.unicodeScalars {
            if isPythonSpace(scalar) {
                if !current.isEmpty { words.append(lowercased(current)) }
                current = []
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { words.append(lowercased(current)) }
        return words
    }

    /// `_is_whitespace`: space, tab, newline, return, or category Zs.
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\n" || s == "\r" || s.properties.generalCategory == .spaceSeparator
    }

    /// `_is_control`: category C* other than tab, newline, return.
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// `_is_chinese_char`: the CJK Unified Ideographs blocks and their compatibility blocks.
    static func isCJKIdeograph(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }

    /// Python's `str.isspace()` (what `str.split()` splits on).
    static func isPythonSpace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Python's `str.lower()`: each scalar's full lowercase mapping, except that capital sigma
    /// becomes final sigma (ς) after a cased letter and not before one (case-ignorable scalars skipped).
    static func lowercased(_ word: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(word.count)
        for (i, scalar) in word.enumerated() {
            if scalar.value == 0x3A3 {
                out.append(isFinalSigma(word, at: i) ? "\u{3C2}" : "\u{3C3}")
            } else {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    private static func isFinalSigma(_ word: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && word[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0, word[j].properties.isCased else { return false }
        j = i + 1
        while j < word.count && word[j].properties.isCaseIgnorable { j += 1 }
        return j == word.count || !word[j].properties.isCased
    }
}

/// CLIP's pattern `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// (case-insensitive) as `re.findall` applies it to one cleaned word (which holds no whitespace):
/// the special-token texts, English contractions, runs of letters, single numerals, runs of anything else.
enum CLIPPreTokenizer {
    static let literals: [[Unicode.Scalar]] = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }
    static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }

    static func matches(_ word: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = []
        var i = 0
        while i < word.count {
            let length = matchLength(word, at: i)
            out.append(Array(word[i..<(i + length)]))
            i += length
        }
        return out
    }

    private static func matchLength(_ word: [Unicode.Scalar], at i: Int) -> Int {
        for literal in literals where startsWith(word, literal, at: i, ignoringCase: true) { return literal.count }
        if word[i] == "'" {
            for suffix in contractions where startsWith(word, suffix, at: i + 1, ignoringCase: true) { return suffix.count + 1 }
        }
        if isLetter(word[i]) {
            var j = i + 1
            while j < word.count && isLetter(word[j]) { j += 1 }
            return j - i
        }
        if isNumber(word[i]) { return 1 }
        var j = i + 1
        while j < word.count && !isLetter(word[j]) && !isNumber(word[j]) && !isSpace(word[j]) { j += 1 }
        return j - i
    }

    private static func startsWith(_ word: [Unicode.Scalar], _ text: [Unicode.Scalar], at i: Int, ignoringCase: Bool) -> Bool {
        guard i + text.count <= word.count else { return false }
        for (k, expected) in text.enumerated() {
            let actual = word[i + k]
            if actual == expected { continue }
            if ignoringCase && actual.properties.lowercaseMapping == String(expected) { continue }
            return false
        }
        return true
    }

    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace || CLIPTextCleaner.isPythonSpace(s) }
}
