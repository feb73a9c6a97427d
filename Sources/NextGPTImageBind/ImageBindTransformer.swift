import NextGPTCore
import NextGPTKernels
import NextGPTLayers

// `models/transformer.py`: `SimpleTransformer` of `BlockWithMasking`s, each
// `x += attn(norm_1(x)); x += mlp(norm_2(x))`. Sequences are [L, D] rows of one clip; a batch is
// [N·L, D] so the linear layers see every clip at once and attention runs clip by clip.

// Attention is `torch.nn.MultiheadAttention` (NextGPTLayers' `MultiheadAttention`): the packed
// `in_proj_weight`, and `bias_k`/`bias_v` as one more key/value position for audio.

/// `Mlp`: fc2(GELU(fc1(x))), exact erf GELU.
public final class Mlp: Sendable {
    public let fc1, fc2: LinearLayer

    init(_ w: Weights, dim: Int, hidden: Int) throws {
        fc1 = try w.linear("fc1", out: hidden, in: dim, bias: true)
        fc2 = try w.linear("fc2", out: dim, in: hidden, bias: true)
    }

    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        fc2(Activations.gelu(fc1(x, context), context: context), context)
    }
}

/// `BlockWithMasking` at eval (no drop path, no layer scale), LayerNorms with eps 1e-6.
public final class BlockWithMasking: Sendable {
    public let attn: MultiheadAttention
    public let norm1, norm2: LayerNorm
    public let mlp: Mlp

    init(_ w: Weights, dim: Int, heads: Int, addBiasKV: Bool) throws {
        attn = try MultiheadAttention(w.pp("attn"), dim: dim, heads: heads, addBiasKV: addBiasKV)
        norm1 = try w.layerNorm("norm_1", dim: dim, eps: 1e-6)
        mlp = try Mlp(w.pp("mlp"), dim: dim, hidden: 4 * dim)
        norm2 = try w.layerNorm("norm_2", dim: dim, eps: 1e-6)
    }

    func callAsFunction(_ x: Tensor, length: Int, attnMask: Tensor? = nil, _ context: ExecutionContext) -> Tensor {
        let h = Elementwise.add(x, attn(norm1(x, context), length: length, attnMask: attnMask, context))
        return Elementwise.add(h, mlp(norm2(h, context), context))
    }
}

/// `SimpleTransformer`: the optional `pre_transformer_layer.0` LayerNorm (vision), then the blocks.
public final class SimpleTransformer: Sendable {
    public let preTransformerLayer: LayerNorm?
    public let blocks: [BlockWithMasking]

    init(_ w: Weights, dim: Int, blocks count: Int, heads: Int, preTransformerLN: Bool, addBiasKV: Bool) throws {
        preTransformerLayer = preTransformerLN ? try w.pp("pre_transformer_layer").layerNorm("0", dim: dim, eps: 1e-6) : nil
        blocks = try (0..<count).map { try BlockWithMasking(w.pp("blocks").pp($0), dim: dim, heads: heads, addBiasKV: addBiasKV) }
    }

    func callAsFunction(_ x: Tensor, length: Int, attnMask: Tensor? = nil, _ context: ExecutionContext) -> Tensor {
        var h = preTransformerLayer.map { $0(x, context) } ?? x
        for block in blocks { h = block(h, length: length, attnMask: attnMask, context) }
        return h
    }
}
