import NextGPTCore
import NextGPTKernels
import NextGPTLayers

// `models/transformer.py`: `SimpleTransformer` of `BlockWithMasking`s, each
// `x += attn(norm_1(x)); x += mlp(norm_2(x))`. Sequences are [L, D] rows of one clip; a batch is
// [N·L, D] so the linear layers see every clip at once and attention runs clip by clip.

/// `nn.MultiheadAttention(d, heads, bias=True, add_bias_kv=…)`: the packed `in_proj_weight`
/// [3d, d] runs as one product whose output splits into q, k, v; `bias_k`/`bias_v` are one more
/// key/value position after the projection.
public final class MultiheadAttention: Sendable {
    public let inProj: LinearLayer
    public let outProj: LinearLayer
    /// [heads, headDim] each when `add_bias_kv`.
    public let biasK: Tensor?
    public let biasV: Tensor?
    let heads: Int, headDim: Int

    init(_ w: Weights, dim: Int, heads: Int, addBiasKV: Bool) throws {
        inProj = try w.packedLinear(weight: "in_proj_weight", bias: "in_proj_bias", out: 3 * dim, in: dim)
        outProj = try w.linear("out_proj", out: dim, in: dim, bias: true)
        self.heads = heads
        headDim = dim / heads
        biasK = addBiasKV ? try w.tensor("bias_k", shape: [1, 1, dim]).reshaped([heads, dim / heads]) : nil
        biasV = addBiasKV ? try w.tensor("bias_v", shape: [1, 1, dim]).reshaped([heads, dim / heads]) : nil
    }

    /// x [N·L, d] (N sequences of `length`) → [N·L, d]; `attnMask` [L, L] is added to the scores.
    func callAsFunction(_ x: Tensor, length: Int, attnMask: Tensor? = nil, _ context: ExecutionContext) -> Tensor {
        let dim = heads * headDim, n = x.shape[0] / length
        let qkv = Shape.split(inProj(x, context), splitSize: dim, dim: 1)
        let (q, k, v) = (Shape.split(qkv[0], splitSize: length), Shape.split(qkv[1], splitSize: length), Shape.split(qkv[2], splitSize: length))
        let outputs = (0..<n).map { i in
            Attention.scaledDotProductAttention(query: q[i].reshaped([length, heads, headDim]),
                                                key: k[i].reshaped([length, heads, headDim]),
                                                value: v[i].reshaped([length, heads, headDim]),
                                                mask: attnMask, biasKey: biasK, biasValue: biasV, context: context)
                .reshaped([length, dim])
        }
        return outProj(Shape.cat(outputs, dim: 0), context)
    }
}

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
