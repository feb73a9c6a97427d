import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

// The text branch of `imagebind_model.py`: `TextPreprocessor(context_length=77, vocab_size=49408,
// causal_masking=True)` → `SimpleTransformer` with the causal mask → `SelectEOSAndProject` →
// `Normalize` + `LearnableLogitScaling(learnable=True)`.

/// `TextPreprocessor`: token embedding plus `pos_embed`; the causal `mask` buffer goes to the trunk
/// and the end-of-text position (`text.argmax(dim=-1)`, the first highest id) to the head.
public final class TextPreprocessor: Sendable {
    /// `token_embedding.weight` [vocab, D], kept in its stored type: only the rows of the ids are read.
    public let tokenEmbedding: Weight
    public let posEmbed: Tensor
    /// Additive [L, L] mask: 0 on and below the diagonal, −∞ above (the stored buffer, or rebuilt
    /// as `build_causal_attention_mask` does when a checkpoint lacks it).
    public let mask: Tensor
    let dim: Int

    init(_ w: Weights, config c: ImageBindConfig) throws {
        dim = c.textEmbedDim
        tokenEmbedding = try w.pp("token_embedding").weight("weight", shape: [-1, dim])
        posEmbed = try w.tensor("pos_embed", shape: [1, -1, dim])
        let length = posEmbed.shape[1]
        mask = try w.optionalTensor("mask", shape: [length, length]) ?? Self.causalMask(length)
    }

    public var contextLength: Int { posEmbed.shape[1] }
    public var vocabularySize: Int { tokenEmbedding.shape[0] }

    public static func causalMask(_ length: Int) -> Tensor {
        Tensor(shape: [length, length], values: (0..<(length * length)).map { $0 % length > $0 / length ? -Float.infinity : 0 })
    }

    /// ids [N, L] (integer values) → ([N·L, D], L, end-of-text position of each row).
    func callAsFunction(_ ids: Tensor) throws -> (tokens: Tensor, length: Int, eos: [Int]) {
        let length = contextLength, vocabulary = vocabularySize
        guard ids.rank == 2, ids.shape[0] > 0, ids.shape[1] == length else {
            throw ImageBindModel.InputError.shape(.text, ids.shape, expected: "[N, \(length)] token ids")
        }
        var rows: [Int] = []
        rows.reserveCapacity(ids.count)
        for (index, value) in ids.values.enumerated() {
            guard value == value.rounded(), value >= 0, value < Float(vocabulary) else {
                throw ImageBindModel.InputError.tokenId(value, position: [index / length, index % length], vocabulary: vocabulary)
            }
            rows.append(Int(value))
        }
        let n = ids.shape[0]
        let eos = (0..<n).map { r in
            let row = rows[(r * length)..<((r + 1) * length)]
            return row.firstIndex(of: row.max()!)! - r * length
        }
        let position = posEmbed.reshaped([length, dim])
        let embedded = Embeddings.embedding(rows, weight: tokenEmbedding)
        let tokens = Shape.cat(Shape.split(embedded, splitSize: length, dim: 0).map { Elementwise.add($0, position) }, dim: 0)
        return (tokens, length, eos)
    }
}

/// `SelectEOSAndProject(proj=Sequential(LayerNorm(D, eps=1e-6), Linear(D, out, bias=False)))`.
public final class SelectEOSAndProject: Sendable {
    public let norm: LayerNorm
    public let proj: LinearLayer

    init(_ w: Weights, dim: Int, out: Int) throws {
        norm = try w.pp("proj").layerNorm("0", dim: dim, eps: 1e-6)
        proj = try w.pp("proj").linear("1", out: out, in: dim, bias: false)
    }

    /// tokens [N·L, D] → the rows at `eos` of each sequence → [N, out].
    func callAsFunction(_ tokens: Tensor, length: Int, eos: [Int], _ context: ExecutionContext) -> Tensor {
        let d = tokens.shape[1], values = tokens.values
        var rows = [Float]()
        rows.reserveCapacity(eos.count * d)
        for (r, position) in eos.enumerated() {
            let start = (r * length + position) * d
            rows.append(contentsOf: values[start..<(start + d)])
        }
        let selected = Tensor(shape: [eos.count, d], values: rows)
        return proj(norm(selected, context), context)
    }
}
