/// Turns ids into text one at a time, exactly as sentencepiece's `decode` does for the whole sequence:
/// control pieces vanish; ▁ becomes a space; `<unk>` shows the model's unknown surface; runs of byte pieces
/// are decoded as UTF-8 with one U+FFFD per invalid byte; and the dummy prefix goes: until some text has been
/// produced or a leading ▁ consumed, a piece's leading ▁ is dropped (with remove_extra_whitespaces a consumed
/// ▁ does not count, so every leading ▁ goes). Bytes of a character split across tokens are held back until
/// the character is complete, so a generator can print every returned string at once. Added tokens show
/// their text.
public struct SentencePieceStreamDecoder: Sendable {
    let vocabulary: SentencePieceVocabulary
    let addedTokens: [Int32: String]
    private var atStart = true
    private var producedText = false
    private var consumedDummyPrefix = false
    private var pendingBytes: [UInt8] = []

    init(vocabulary: SentencePieceVocabulary, addedTokens: [Int32: String]) {
        self.vocabulary = vocabulary
        self.addedTokens = addedTokens
    }

    /// The text that `id` completes (possibly empty while a character's bytes are still arriving).
    /// Ids outside the vocabulary and the added tokens decode to nothing.
    public mutating func push(_ id: Int32) -> String {
        let v = vocabulary
        let type = v.type(of: id)
        if addedTokens[id] == nil, type == nil { return "" }
        if type == .byte {
            if let value = SentencePieceVocabulary.byteValue(v.pieces[Int(id)]) { pendingBytes.append(value) }
            return note(decodeBytes(final: false))
        }
        let bytes = note(flush())
        if consumedDummyPrefix || producedText { atStart = false }
        consumedDummyPrefix = false
        if let text = addedTokens[id] { return bytes + note(text) }
        switch type {
        case .control: return bytes
        case .unknown: return bytes + note(v.unkSurface)
        default:
            let surface = v.surfaces[Int(id)]
            if atStart, v.addDummyPrefix || v.removeExtraWhitespaces, v.pieces[Int(id)].unicodeScalars.first == "\u{2581}" {
                consumedDummyPrefix = !v.removeExtraWhitespaces
                return bytes + note(String(surface.unicodeScalars.dropFirst()))
            }
            return bytes + note(surface)
        }
    }

    private mutating func note(_ text: String) -> String {
        if !text.isEmpty { producedText = true }
        return text
    }

    /// What is still held back (bytes of an unfinished character, as U+FFFD each); call at the end of a sequence.
    public mutating func finish() -> String { flush() }

    private mutating func flush() -> String { pendingBytes.isEmpty ? "" : decodeBytes(final: true) }

    /// Decodes held bytes from the front as sentencepiece's DecodeUTF8 would: a sequence is valid when every byte it
    /// needs is a continuation byte, the value is not overlong, not a surrogate and at most U+10FFFF; otherwise its
    /// first byte becomes U+FFFD. Unless `final`, an incomplete but so-far-plausible tail waits for more bytes.
    private mutating func decodeBytes(final: Bool) -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        let bytes = pendingBytes
        while i < bytes.count {
            let lead = bytes[i]
            let need: Int
            switch lead {
            case 0..<0x80: need = 1
            case _ where lead & 0xE0 == 0xC0: need = 2
            case _ where lead & 0xF0 == 0xE0: need = 3
            case _ where lead & 0xF8 == 0xF0: need = 4
            default: need = 0
            }
            let available = bytes.count - i
            let trailsSoFar = bytes[(i + 1)..<(i + min(max(need, 1), available))].allSatisfy { $0 & 0xC0 == 0x80 }
            if need > available, trailsSoFar, !final { break }
            if need >= 1, need <= available, trailsSoFar, let scalar = Self.scalar(bytes[i..<(i + need)]) {
                out.append(scalar)
                i += need
            } else {
                out.append("\u{FFFD}")
                i += 1
            }
        }
        pendingBytes.removeFirst(i)
        return String(out)
    }

    private static func scalar(_ bytes: ArraySlice<UInt8>) -> Unicode.Scalar? {
        let b = Array(bytes)
        let value: UInt32, minimum: UInt32
        switch b.count {
        case 1: return Unicode.Scalar(b[0])
        case 2: value = UInt32(b[0] & 0x1F) << 6 | UInt32(b[1] & 0x3F); minimum = 0x80
        case 3: value = UInt32(b[0] & 0x0F) << 12 | UInt32(b[1] & 0x3F) << 6 | UInt32(b[2] & 0x3F); minimum = 0x800
        default:
            value = UInt32(b[0] & 0x07) << 18 | UInt32(b[1] & 0x3F) << 12 | UInt32(b[2] & 0x3F) << 6 | UInt32(b[3] & 0x3F)
            minimum = 0x10000
        }
        return value >= minimum ? Unicode.Scalar(value) : nil  // nil for surrogates and beyond U+10FFFF
    }
}
