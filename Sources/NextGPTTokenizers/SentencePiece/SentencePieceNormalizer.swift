/// sentencepiece's normalizer for models without a character map (LLaMA's "identity" rule): only the
/// ASCII space is whitespace here; tabs, newlines and other Unicode spaces are ordinary characters.
enum SentencePieceNormalizer {
    static let spaceSymbol: [UInt8] = [0xE2, 0x96, 0x81]  // U+2581 ▁

    static func normalize(_ text: [UInt8], vocabulary v: SentencePieceVocabulary) -> [UInt8] {
        var input = text[...]
        if v.removeExtraWhitespaces {
            while input.first == 0x20 { input = input.dropFirst() }
        }
        // Empty (or all-space) input gets no dummy prefix either.
        if input.isEmpty { return [] }
        let space: [UInt8] = v.escapeWhitespaces ? spaceSymbol : [0x20]
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 + 3)
        if v.addDummyPrefix { out += space }
        var previousWasSpace = v.removeExtraWhitespaces
        for byte in input {
            if byte == 0x20 {
                if previousWasSpace { continue }
                out += space
                previousWasSpace = v.removeExtraWhitespaces
            } else {
                out.append(byte)
                previousWasSpace = false
            }
        }
        // Trailing removal works on the output, so a literal ▁ typed at the end goes too, as upstream.
        if v.removeExtraWhitespaces {
            while out.count >= space.count, out.suffix(space.count).elementsEqual(space) { out.removeLast(space.count) }
        }
        return out
    }

    /// Byte length of the UTF-8 character starting with `lead` (sentencepiece's OneCharLen).
    @inline(__always)
    static func characterLength(_ lead: UInt8) -> Int {
        switch lead {
        case 0..<0xC0: return 1
        case 0xC0..<0xE0: return 2
        case 0xE0..<0xF0: return 3
        default: return 4
        }
    }
}
