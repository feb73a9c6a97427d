import Foundation

/// `whitespace_clean(basic_clean(text)).lower()` of ImageBind's `SimpleTokenizer`, as words:
/// 1. `ftfy.fix_text` (6.x defaults) in its order — `unescape_html` (texts without `<`),
///    `fix_c1_controls`, `fix_latin_ligatures`, `fix_character_width`, `uncurl_quotes`,
///    `remove_terminal_escapes`, `remove_control_chars`, NFC — but without its mojibake repair
///    (`fix_encoding`: "cafÃ©" stays as it is);
/// 2. `html.unescape` twice;
/// 3. split on whitespace (`strip` and `re.sub(r"\s+", " ")`), each word lower-cased as
///    Python's `str.lower()` does.
enum ImageBindTextCleaner {
    static func words(_ text: String) -> [[Unicode.Scalar]] {
        var s = Array(text.unicodeScalars)
        if !s.contains("<") { s = HTMLUnescape.ftfy(s) }
        s = s.map { (0x80...0x9F).contains($0.value) ? Unicode.Scalar(HTMLUnescape.invalidCharrefs[$0.value]!)! : $0 }
        s = s.flatMap { ligatures[$0.value].map { Array($0.unicodeScalars) } ?? [$0] }
        s = s.flatMap { c -> [Unicode.Scalar] in
            if c.value == 0x3000 { return [" "] }
            if (0xFF01...0xFFEF).contains(c.value) { return Array(String(c).precomposedStringWithCompatibilityMapping.unicodeScalars) }
            return [c]
        }
        s = s.map { $0.value == 0x2BC || (0x2018...0x201B).contains($0.value) ? "'" : (0x201C...0x201F).contains($0.value) ? "\"" : $0 }
        s = removeTerminalEscapes(s).filter { !isFtfyControl($0) }
        s = Array(String(String.UnicodeScalarView(s)).precomposedStringWithCanonicalMapping.unicodeScalars)
        s = HTMLUnescape.python(HTMLUnescape.python(s))
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for c in s {
            if isRegexSpace(c) {
                if !current.isEmpty { words.append(CLIPTextCleaner.lowercased(current)) }
                current = []
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { words.append(CLIPTextCleaner.lowercased(current)) }
        return words
    }

    /// `\s` of the `regex` module and `str.strip()`'s whitespace.
    static func isRegexSpace(_ s: Unicode.Scalar) -> Bool { CLIPTextCleaner.isPythonSpace(s) || s.properties.isWhitespace }

    /// ftfy's `CONTROL_CHARS`.
    static func isFtfyControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }

    /// ftfy's `LIGATURES`.
    static let ligatures: [UInt32: String] = [
        0x132: "IJ", 0x133: "ij", 0x149: "ʼn", 0x1F1: "DZ", 0x1F2: "Dz", 0x1F3: "dz", 0x1C4: "DŽ", 0x1C5: "Dž", 0x1C6: "dž",
        0x1C7: "LJ", 0x1C8: "Lj", 0x1C9: "lj", 0x1CA: "NJ", 0x1CB: "Nj", 0x1CC: "nj",
        0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "ſt", 0xFB06: "st",
    ]

    /// ftfy's `remove_terminal_escapes`: `\x1b\[((?:\d|;)*)([a-zA-Z])` removed.
    static func removeTerminalEscapes(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < s.count {
            if s[i].value == 0x1B, i + 1 < s.count, s[i + 1] == "[" {
                var j = i + 2
                while j < s.count, s[j].properties.numericType == .decimal || s[j] == ";" { j += 1 }
                if j < s.count, s[j].isASCII, s[j].properties.isAlphabetic { i = j + 1; continue }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }
}
