/// Python's `html.unescape` and ftfy's `unescape_html`, on Unicode scalars.
enum HTMLUnescape {
    static let html5 = parse(html5Table)
    static let ftfyUppercase = parse(ftfyUppercaseTable)

    static func parse(_ table: String) -> [String: [Unicode.Scalar]] {
        var entities: [String: [Unicode.Scalar]] = [:]
        for line in table.split(separator: "\n") {
            let parts = line.split(separator: " ")
            entities[String(parts[0])] = parts[1].split(separator: ",").map { Unicode.Scalar(UInt32($0, radix: 16)!)! }
        }
        return entities
    }

    /// `html._invalid_charrefs`: what a numeric reference to these code points gives instead
    /// (128–159 as Windows-1252, the undefined five as themselves: ftfy's "sloppy-windows-1252").
    static let invalidCharrefs: [UInt32: UInt32] = [
        0x00: 0xFFFD, 0x0D: 0x0D, 0x80: 0x20AC, 0x81: 0x81, 0x82: 0x201A, 0x83: 0x192, 0x84: 0x201E, 0x85: 0x2026,
        0x86: 0x2020, 0x87: 0x2021, 0x88: 0x2C6, 0x89: 0x2030, 0x8A: 0x160, 0x8B: 0x2039, 0x8C: 0x152, 0x8D: 0x8D,
        0x8E: 0x17D, 0x8F: 0x8F, 0x90: 0x90, 0x91: 0x2018, 0x92: 0x2019, 0x93: 0x201C, 0x94: 0x201D, 0x95: 0x2022,
        0x96: 0x2013, 0x97: 0x2014, 0x98: 0x2DC, 0x99: 0x2122, 0x9A: 0x161, 0x9B: 0x203A, 0x9C: 0x153, 0x9D: 0x9D,
        0x9E: 0x17E, 0x9F: 0x178,
    ]

    /// `html._invalid_codepoints`: numeric references to these give nothing.
    static func isInvalidCodepoint(_ v: UInt64) -> Bool {
        (0x1...0x8).contains(v) || v == 0xB || (0xE...0x1F).contains(v) || (0x7F...0x9F).contains(v)
            || (0xFDD0...0xFDEF).contains(v) || (v & 0xFFFE == 0xFFFE && v <= 0x10FFFF)
    }

    /// `html.unescape(s)`: every match of `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)`
    /// replaced as `html._replace_charref` does.
    static func python(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if s[i] == "&", let (replacement, end) = charref(s, at: i + 1) {
                out.append(contentsOf: replacement)
                i = end
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }

    private static func charref(_ s: [Unicode.Scalar], at j: Int) -> ([Unicode.Scalar], Int)? {
        guard j < s.count else { return nil }
        if s[j] == "#" {
            let hex = j + 1 < s.count && (s[j + 1] == "x" || s[j + 1] == "X")
            let start = hex ? j + 2 : j + 1
            var k = start
            while k < s.count, s[k].isASCII, hex ? s[k].properties.isASCIIHexDigit : ("0"..."9").contains(s[k]) { k += 1 }
            guard k > start else { return nil }
            let digits = String(String.UnicodeScalarView(s[start..<k])).drop { $0 == "0" }
            let value = digits.count > 8 ? UInt64.max : UInt64(digits.isEmpty ? "0" : String(digits), radix: hex ? 16 : 10)!
            let end = k < s.count && s[k] == ";" ? k + 1 : k
            return (numeric(value), end)
        }
        var k = j
        while k < s.count, k - j < 32, !["\t", "\n", "\u{C}", " ", "<", "&", "#", ";"].contains(s[k]) { k += 1 }
        guard k > j else { return nil }
        let semicolon = k < s.count && s[k] == ";"
        let name = Array(s[j..<k]) + (semicolon ? [";"] : [])
        let end = semicolon ? k + 1 : k
        if let value = html5[String(String.UnicodeScalarView(name))] { return (value, end) }
        var x = name.count - 1
        while x > 1 {
            if let value = html5[String(String.UnicodeScalarView(name[..<x]))] { return (value + name[x...], end) }
            x -= 1
        }
        return (["&"] + name, end)
    }

    private static func numeric(_ value: UInt64) -> [Unicode.Scalar] {
        if value <= 0x9F, let mapped = invalidCharrefs[UInt32(value)] { return [Unicode.Scalar(mapped)!] }
        if (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { return ["\u{FFFD}"] }
        if isInvalidCodepoint(value) { return [] }
        return [Unicode.Scalar(UInt32(value))!]
    }

    /// ftfy's `unescape_html` (applied only to texts without `<`): each `&#?[0-9A-Za-z]{1,24};`
    /// that is an HTML5 entity or an upper-cased one, or a numeric reference `html.unescape` decodes.
    static func ftfy(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if s[i] == "&" {
                let start = i + 1 < s.count && s[i + 1] == "#" ? i + 2 : i + 1
                var k = start
                while k < s.count, s[k].isASCII, s[k].properties.isAlphabetic || ("0"..."9").contains(s[k]) { k += 1 }
                if k > start, k - start <= 24, k < s.count, s[k] == ";" {
                    let text = Array(s[i...k])
                    let key = String(String.UnicodeScalarView(text.dropFirst()))
                    if let value = html5[key] ?? ftfyUppercase[key] {
                        out.append(contentsOf: value)
                    } else if start == i + 2 {
                        let unescaped = python(text)
                        out.append(contentsOf: unescaped.contains(";") ? text : unescaped)
                    } else {
                        out.append(contentsOf: text)
                    }
                    i = k + 1
                    continue
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }
}
