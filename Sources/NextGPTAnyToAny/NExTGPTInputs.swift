import NextGPTCore
import NextGPTKernels
import NextGPTLlama
import NextGPTTokenizers

/// `prepare_generation_embedding` (NEXTGPT.md §1.4): every text chunk tokenized without special
/// tokens after its own BOS; every media chunk `[<Img>, Σ llama_proj(embedding), </Img>]`.
public struct NExTGPTInputs: Sendable {
    public let tokenizer: SentencePieceTokenizer
    public let signals: SignalTokens
    public let projection: NExTGPTInputProjection

    public init(tokenizer: SentencePieceTokenizer, projection: NExTGPTInputProjection) throws {
        self.tokenizer = tokenizer
        signals = try SignalTokens(tokenizer: tokenizer)
        self.projection = projection
    }

    public struct MediaCountError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The LLM inputs of `segments`; `media` [M, D] holds one ImageBind embedding per path, in
    /// the order the tags name them.
    public func inputs(_ segments: [PromptSegment], media: Tensor?, context: ExecutionContext) throws -> [LlamaInput] {
        let needed = segments.reduce(0) { count, segment in
            if case .media(_, let paths) = segment { return count + paths.count }
            return count
        }
        let rows = media?.shape[0] ?? 0
        guard rows == needed else {
            throw MediaCountError(description: "the prompt names \(needed) media item(s) but \(rows) embedding(s) were given")
        }
        var projected: [Tensor] = []
        if let media, needed > 0 {
            let out = try projection(media, context: context)
            projected = Shape.split(out.reshaped([needed, projection.outFeatures]), splitSize: 1, dim: 0)
        }
        var inputs: [LlamaInput] = [], next = 0
        for segment in segments {
            switch segment {
            case .text(let text):
                inputs.append(.tokens([Int(tokenizer.bosId)] + tokenizer.encode(text, addBOS: false).map(Int.init)))
            case .media(_, let paths):
                // torch.cat(features).sum(dim=0): the projected features of one tag, summed.
                var sum = projected[next]
                for k in 1..<max(paths.count, 1) { sum = Elementwise.add(sum, projected[next + k]) }
                next += paths.count
                inputs.append(.tokens([signals.imageStart]))
                inputs.append(.embeddings(sum))
                inputs.append(.tokens([signals.imageEnd]))
            }
        }
        return inputs
    }
}
