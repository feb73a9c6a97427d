import Foundation

/// `whitespace_clean(basic_clean(text)).lower()` of ImageBind's `SimpleTokenizer`, as words:
/// 1. `ftfy.fix_text` (6.x defaults) without its mojibake repair (`fix_encoding`): HTML entities
///    ending in `;` when the text has no `<`, terminal escapes removed, Latin ligatures and
///    full/half-width forms replaced, curly quotes straightened, control characters removed, NFC;
/// 2. `html.unescape` twice (numeric references and the common named entities, with `;`);
/// 3. split on whitespace (`strip` and `re.sub(r"\s+", " ")`), each word lower-cased as
///    Python's `str.lower()` does.
enum ImageBindTextCleaner {
    static func words(_ text: String) -> [[Unicode.Scalar]] {
        var scalars = Array(text.unicodeScalars)
        if !scalars.contains("<") { scalars = unescapeHTML(scalars) }
        scalars = removeTerminalEscapes(scalars)
        var fixed = String.UnicodeScalarView()
        for s in scalars {
            if let replacement = ligatures[s.value] {
                fixed.append(contentsOf: replacement.unicodeScalars)
            } else if s.value == 0x3000 {
                fixed.append(" ")
            } else if (0xFF01...0xFFEF).contains(s.value) {
                fixed.append(contentsOf: String(s).precomposedStringWithCompatibilityMapping.unicodeScalars)
            } else if s.value == 0x2BC || (0x2018...0x201B).contains(s.value) {
                fixed.append("'")
            } else if (0x201C...0x201F).contains(s.value) {
                fixed.append("\"")
            } else if !isFtfyControl(s) {
                fixed.append(s)
            }
        }
        scalars = Array(String(fixed).precomposedStringWithCanonicalMapping.unicodeScalars)
        scalars = unescapeHTML(unescapeHTML(scalars))
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for s in scalars {
            if isRegexSpace(s) {
                if !current.isEmpty { words.append(CLIPTextCleaner.lowercased(current)) }
                current = []
            } else {
                current.append(s)
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

    /// The named references this cleaner knows (`html.entities.html5` has 2 231; these are the
    /// ones met in captions).
    static let entities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}", "copy": "©", "reg": "®",
        "trade": "™", "hellip": "…", "mdash": "—", "ndash": "–", "lsquo": "‘", "rsquo": "’", "ldquo": "“",
        "rdquo": "”", "laquo": "«", "raquo": "»", "deg": "°", "times": "×", "divide": "÷", "euro": "€",
        "pound": "£", "yen": "¥", "cent": "¢", "sect": "§", "para": "¶", "middot": "·", "bull": "•",
        "eacute": "é", "egrave": "è", "ecirc": "ê", "aacute": "á", "agrave": "à", "acirc": "â", "auml": "ä",
        "ouml": "ö", "uuml": "ü", "szlig": "ß", "ccedil": "ç", "ntilde": "ñ", "oacute": "ó", "iacute": "í",
        "uacute": "ú", "Eacute": "É", "Auml": "Ä", "Ouml": "Ö", "Uuml": "Ü",
    ]

    /// `html.unescape` for `&name;`, `&#N;` and `&#xN;` (invalid code points become U+FFFD).
    static func unescapeHTML(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < s.count {
            if s[i] == "&", let end = s[(i + 1)...].prefix(33).firstIndex(of: ";"), end > i + 1 {
                let body = String(String.UnicodeScalarView(s[(i + 1)..<end]))
                var replacement: String?
                if body.hasPrefix("#") {
                    let digits = body.dropFirst()
                    let value = digits.first == "x" || digits.first == "X" ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
                    if let value, !digits.isEmpty {
                        replacement = String(Unicode.Scalar(value).map(Character.init) ?? "\u{FFFD}")
                        if value == 0 { replacement = "\u{FFFD}" }
                    }
                } else {
                    replacement = entities[body]
                }
                if let replacement {
                    out.append(contentsOf: replacement.unicodeScalars)
                    i = end + 1
                    continue
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }
}
