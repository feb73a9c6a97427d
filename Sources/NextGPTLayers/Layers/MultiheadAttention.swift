import NextGPTCore
import NextGPTKernels

/// `torch.nn.MultiheadAttention(d, heads, bias=True, add_bias_kv=…)` at eval, batch-first. The
/// packed `in_proj_weight` [3d, d] holds W_q, W_k, W_v; sequences travel as rows [N·L, d] so the
/// projections see every sequence at once, and attention runs sequence by sequence.
public final class MultiheadAttention: Sendable {
    public let inProj: LinearLayer
    public let outProj: LinearLayer
    /// [heads, headDim] each when `add_bias_kv`: one more key/value position after the projection.
    public let biasK: Tensor?
    public let biasV: Tensor?
    public let heads: Int
    public let headDim: Int

    public init(_ w: Weights, dim: Int, heads: Int, addBiasKV: Bool = false) throws {
        guard heads > 0, dim % heads == 0 else { throw w.error("in_proj_weight", "embed dim \(dim) is not divisible by \(heads) heads") }
        inProj = try w.packedLinear(weight: "in_proj_weight", bias: "in_proj_bias", out: 3 * dim, in: dim)
        outProj = try w.linear("out_proj", out: dim, in: dim, bias: true)
        self.heads = heads
        headDim = dim / heads
        biasK = addBiasKV ? try w.tensor("bias_k", shape: [1, 1, dim]).reshaped([heads, dim / heads]) : nil
        biasV = addBiasKV ? try w.tensor("bias_v", shape: [1, 1, dim]).reshaped([heads, dim / heads]) : nil
    }

    public var embedDim: Int { heads * headDim }

    /// Self-attention: x [N·L, d] (N sequences of `length`) → [N·L, d]; `attnMask` [L, L] is added to the scores.
    public func callAsFunction(_ x: Tensor, length: Int, attnMask: Tensor? = nil, _ context: ExecutionContext) -> Tensor {
        let qkv = Shape.split(inProj(x, context), splitSize: embedDim, dim: 1)
        return attend(queries: qkv[0], queryLength: length, keys: qkv[1], values: qkv[2], keyLength: length, attnMask: attnMask, context)
    }

    /// Attention of `query` [N·Lq, d] over `memory` [N·Lk, d] (a decoder's `multihead_attn`).
    public func callAsFunction(query: Tensor, queryLength: Int, memory: Tensor, memoryLength: Int, _ context: ExecutionContext) -> Tensor {
        // The packed product over both inputs keeps one weight matrix; these sequences are short.
        let q = Shape.split(inProj(query, context), splitSize: embedDim, dim: 1)[0]
        let kv = Shape.split(inProj(memory, context), splitSize: embedDim, dim: 1)
        return attend(queries: q, queryLength: queryLength, keys: kv[1], values: kv[2], keyLength: memoryLength, attnMask: nil, context)
    }

    private func attend(queries: Tensor, queryLength: Int, keys: Tensor, values: Tensor, keyLength: Int, attnMask: Tensor?,
                        _ context: ExecutionContext) -> Tensor {
        let n = queries.shape[0] / queryLength
        precondition(n * queryLength == queries.shape[0] && n * keyLength == keys.shape[0],
                     "attention: \(queries.shape[0]) query rows and \(keys.shape[0]) key rows are not \(n) sequences of \(queryLength) and \(keyLength)")
        let (q, k, v) = (Shape.split(queries, splitSize: queryLength), Shape.split(keys, splitSize: keyLength), Shape.split(values, splitSize: keyLength))
        let outputs = (0..<n).map { i in
            Attention.scaledDotProductAttention(query: q[i].reshaped([queryLength, heads, headDim]),
                                                key: k[i].reshaped([keyLength, heads, headDim]),
                                                value: v[i].reshaped([keyLength, heads, headDim]),
                                                mask: attnMask, biasKey: biasK, biasValue: biasV, context: context)
                .reshaped([queryLength, embedDim])
        }
        return outProj(Shape.cat(outputs, dim: 0), context)
    }
}
