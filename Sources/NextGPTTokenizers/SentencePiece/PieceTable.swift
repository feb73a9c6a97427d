/// Piece bytes → id. Swift `String` equality is canonical equivalence ("é" == "e\u{301}", "Ω" == "Ω"), but
/// sentencepiece compares bytes, so pieces are keyed by their UTF-8 bytes; lookups take a slice of the
/// normalized text and allocate nothing (open addressing, FNV-1a).
struct PieceTable: Sendable {
    private let keys: [[UInt8]]
    private let values: [Int32]
    private let slots: [Int32]
    private let mask: Int

    /// `entries` must not repeat a key.
    init(_ entries: [(key: [UInt8], value: Int32)]) {
        keys = entries.map(\.key)
        values = entries.map(\.value)
        var capacity = 16
        while capacity < entries.count * 2 { capacity *= 2 }
        mask = capacity - 1
        var table = [Int32](repeating: -1, count: capacity)
        for (index, entry) in entries.enumerated() {
            var slot = Self.hash(entry.key[...]) & (capacity - 1)
            while table[slot] >= 0 { slot = (slot + 1) & (capacity - 1) }
            table[slot] = Int32(index)
        }
        slots = table
    }

    func id(_ bytes: ArraySlice<UInt8>) -> Int32? {
        var slot = Self.hash(bytes) & mask
        while true {
            let entry = slots[slot]
            if entry < 0 { return nil }
            let key = keys[Int(entry)]
            if key.count == bytes.count, key.elementsEqual(bytes) { return values[Int(entry)] }
            slot = (slot + 1) & mask
        }
    }

    private static func hash(_ bytes: ArraySlice<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}
