/// A piece of the normalized text and the id it maps to (the unknown id when the piece is not in the vocabulary).
struct Segment {
    var range: Range<Int>
    var id: Int32
}

/// sentencepiece's BPE encoder: start from characters (user-defined pieces whole and frozen), repeatedly merge
/// the adjacent pair whose concatenation is the highest-scoring piece, leftmost on ties. A heap of candidate
/// pairs plus a linked list of symbols keeps it O(n log n); stale heap entries are recognised by their size.
enum BPESegmenter {
    private struct Pair: Comparable {
        var score: Float
        var left: Int
        var right: Int
        var size: Int
        // "Greater" pops first: higher score, then the leftmost pair.
        static func < (a: Pair, b: Pair) -> Bool { a.score < b.score || (a.score == b.score && a.left > b.left) }
    }

    static func segment(_ text: [UInt8], vocabulary v: SentencePieceVocabulary) -> [Segment] {
        var start: [Int] = [], length: [Int] = [], frozen: [Bool] = []
        var position = 0
        while position < text.count {
            let user = userDefinedMatch(text, at: position, vocabulary: v)
            let size = user ?? min(SentencePieceNormalizer.characterLength(text[position]), text.count - position)
            start.append(position); length.append(size); frozen.append(user != nil)
            position += size
        }
        let n = start.count
        var previous = Array(-1..<(n - 1)), next = Array(1...max(n, 1)).map { $0 < n ? $0 : -1 }
        var agenda = MaxHeap<Pair>()
        // An unused piece's bytes → the length of the left part it was merged from.
        var reverseMerges: [[UInt8]: Int] = [:]

        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0, !frozen[left], !frozen[right] else { return }
            let merged = text[start[left]..<(start[left] + length[left] + length[right])]
            guard let id = v.textPieceIds.id(merged) else { return }
            agenda.push(Pair(score: v.scores[Int(id)], left: left, right: right, size: merged.count))
            if v.types[Int(id)] == .unused { reverseMerges[Array(merged)] = length[left] }
        }

        for i in 1..<max(n, 1) { consider(i - 1, i) }
        while let top = agenda.pop() {
            guard length[top.left] > 0, length[top.right] > 0, length[top.left] + length[top.right] == top.size else { continue }
            length[top.left] = top.size
            next[top.left] = next[top.right]
            if next[top.right] >= 0 { previous[next[top.right]] = top.left }
            length[top.right] = 0
            consider(previous[top.left], top.left)
            consider(top.left, next[top.left])
        }

        // Unused pieces may be formed by merges but are never output: split them back into what formed them.
        var segments: [Segment] = []
        func emit(_ range: Range<Int>) {
            let id = v.id(of: text[range])
            if v.types[Int(id)] == .unused, let left = reverseMerges[Array(text[range])] {
                emit(range.lowerBound..<(range.lowerBound + left))
                emit((range.lowerBound + left)..<range.upperBound)
            } else {
                segments.append(Segment(range: range, id: id))
            }
        }
        var index = n > 0 ? 0 : -1
        while index >= 0 {
            emit(start[index]..<(start[index] + length[index]))
            index = next[index]
        }
        return segments
    }

    static func userDefinedMatch(_ text: [UInt8], at position: Int, vocabulary v: SentencePieceVocabulary) -> Int? {
        guard let candidates = v.userDefinedByFirstByte[text[position]] else { return nil }
        for candidate in candidates where position + candidate.count <= text.count
            && text[position..<(position + candidate.count)].elementsEqual(candidate) {
            return candidate.count
        }
        return nil
    }
}

/// sentencepiece's unigram encoder (its "optimized" Viterbi): the best path ending at every byte offset, edges
/// visited shortest first from each start so ties keep the earlier edge; a character no piece covers becomes an
/// unknown edge scored min_score - 10. User-defined pieces score length * max_score - 0.1, in double as upstream.
enum UnigramSegmenter {
    private struct Best {
        var id: Int32 = -1
        var score: Float = 0
        var start = -1
    }

    static func segment(_ text: [UInt8], vocabulary v: SentencePieceVocabulary) -> [Segment] {
        guard !text.isEmpty else { return [] }
        let unknownScore = v.minScore - 10
        var best = [Best](repeating: Best(), count: text.count + 1)
        var from = 0
        while from < text.count {
            let here = best[from].score
            let characterLength = min(SentencePieceNormalizer.characterLength(text[from]), text.count - from)
            var coversCharacter = false
            var end = from + characterLength
            while end <= min(text.count, from + v.maxPieceBytes) {
                if let id = v.textPieceIds.id(text[from..<end]), v.types[Int(id)] != .unused {
                    let score: Double = v.types[Int(id)] == .userDefined
                        ? Double(Float(end - from) * v.maxScore) - 0.1 : Double(v.scores[Int(id)])
                    let candidate = score + Double(here)
                    if best[end].start == -1 || candidate > Double(best[end].score) {
                        best[end] = Best(id: id, score: Float(candidate), start: from)
                    }
                    if end - from == characterLength { coversCharacter = true }
                }
                guard end < text.count else { break }
                end += SentencePieceNormalizer.characterLength(text[end])
            }
            if !coversCharacter {
                let candidate = unknownScore + here
                let target = from + characterLength
                if best[target].start == -1 || candidate > best[target].score {
                    best[target] = Best(id: v.unkId, score: candidate, start: from)
                }
            }
            from += characterLength
        }
        var segments: [Segment] = []
        var end = text.count
        while end > 0 {
            let node = best[end]
            segments.append(Segment(range: node.start..<end, id: node.id))
            end = node.start
        }
        return segments.reversed()
    }
}

/// A binary max-heap.
struct MaxHeap<Element: Comparable> {
    private var items: [Element] = []

    mutating func push(_ item: Element) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[parent] < items[child] else { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var largest = parent
            if left < items.count, items[largest] < items[left] { largest = left }
            if right < items.count, items[largest] < items[right] { largest = right }
            if largest == parent { break }
            items.swapAt(parent, largest)
            parent = largest
        }
        return top
    }
}
