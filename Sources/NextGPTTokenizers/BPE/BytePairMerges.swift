/// Byte-pair merges by rank, as GPT-2-style tokenizers apply them (CLIP, ImageBind, RoBERTa):
/// the lowest-ranked adjacent pair is joined everywhere, left to right, until no pair has a rank.
struct BytePairMerges: Sendable {
    struct SymbolPair: Hashable {
        let first: String
        let second: String
    }

    private let ranks: [SymbolPair: Int]

    /// `merges`: "left right" lines in rank order (header removed), at most `limit` of them read;
    /// lines that are not two symbols never match, as in the slow tokenizers.
    init(_ merges: [String], limit: Int = .max) {
        var ranks = [SymbolPair: Int](minimumCapacity: min(merges.count, limit))
        for (rank, line) in merges.prefix(limit).enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2 else { continue }
            // a repeated line takes its later rank, as Python's dict(zip(merges, range(...))) does
            ranks[SymbolPair(first: String(parts[0]), second: String(parts[1]))] = rank
        }
        self.ranks = ranks
    }

    /// The pieces `word` (a sequence of symbols) merges into.
    func merge(_ symbols: [String]) -> [String] {
        var word = symbols
        while word.count > 1 {
            var best: (rank: Int, pair: SymbolPair)?
            for i in 0..<(word.count - 1) {
                let pair = SymbolPair(first: word[i], second: word[i + 1])
                if let rank = ranks[pair], rank < best?.rank ?? Int.max { best = (rank, pair) }
            }
            guard let pair = best?.pair else { break }
            var merged: [String] = []
            merged.reserveCapacity(word.count)
            var i = 0
            while i < word.count {
                if i < word.count - 1 && word[i] == pair.first && word[i + 1] == pair.second {
                    merged.append(pair.first + pair.second)
                    i += 2
                } else {
                    merged.append(word[i])
                    i += 1
                }
            }
            word = merged
        }
        return word
    }
}
