import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLayers

/// diffusers `Attention` (models/attention_processor.py; named `CrossAttention` before 0.14) as
/// `AttnProcessor2_0` runs it: optional GroupNorm over channels, `to_q` on the hidden states,
/// `to_k`/`to_v` on the encoder states (the hidden states themselves for self-attention),
/// scaled dot-product attention over `heads` heads of `dim_head`, `to_out.0`, then the optional
/// residual and `rescale_output_factor`. UNet transformer blocks use it without norm or residual,
/// the VAE's mid block with both and a single head.
public final class CrossAttention: Sendable {
    public let heads: Int
    public let dimHead: Int
    let groupNorm: GroupNorm?
    let toQ: LinearLayer
    let toK: LinearLayer
    let toV: LinearLayer
    let toOut: LinearLayer
    let residualConnection: Bool
    let rescaleOutputFactor: Float

    public init(_ w: Weights, queryDim: Int, crossAttentionDim: Int? = nil, heads: Int, dimHead: Int,
                bias: Bool = false, outBias: Bool = true, outDim: Int? = nil, normGroups: Int? = nil, eps: Float = 1e-5,
                residualConnection: Bool = false, rescaleOutputFactor: Float = 1) throws {
        let inner = heads * dimHead
        self.heads = heads
        self.dimHead = dimHead
        groupNorm = try normGroups.map { try w.groupNorm("group_norm", groups: $0, channels: queryDim, eps: eps) }
        toQ = try w.linear("to_q", out: inner, in: queryDim, bias: bias)
        toK = try w.linear("to_k", out: inner, in: crossAttentionDim ?? queryDim, bias: bias)
        toV = try w.linear("to_v", out: inner, in: crossAttentionDim ?? queryDim, bias: bias)
        toOut = try w.linear("to_out.0", out: outDim ?? queryDim, in: inner, bias: outBias)
        self.residualConnection = residualConnection
        self.rescaleOutputFactor = rescaleOutputFactor
    }

    /// From this many sequences of at most `batchedLengthMaximum` queries and keys, the batched kernel runs them all at once.
    static let batchedSequencesMinimum = 16
    static let batchedLengthMaximum = 128

    /// hidden [B, L, C]; encoder [B, S, C_cross] or nil (self-attention) → [B, L, out].
    public func callAsFunction(_ hidden: Tensor, encoderHiddenStates: Tensor? = nil, _ context: ExecutionContext) -> Tensor {
        precondition(hidden.rank == 3, "attention: hidden states \(hidden.shape) are not [B, L, C]")
        var normed = hidden
        if let groupNorm {
            normed = Shape.transpose(groupNorm(Shape.transpose(hidden, 1, 2, context: context), context), 1, 2, context: context)
        }
        let encoder = encoderHiddenStates ?? normed
        let (b, l, s) = (hidden.shape[0], hidden.shape[1], encoder.shape[1])
        precondition(encoder.shape[0] == b, "attention: \(b) hidden sequences with \(encoder.shape[0]) encoder sequences")
        let q = toQ(normed, context), k = toK(encoder, context), v = toV(encoder, context)
        let inner = heads * dimHead
        var out: Tensor
        if b >= Self.batchedSequencesMinimum && l <= Self.batchedLengthMaximum && s <= Self.batchedLengthMaximum {
            // Many short sequences (a video UNet's temporal attention: every position over its frames) in one call.
            let attended = context.measure("attention core batched") {
                Attention.batchedScaledDotProductAttention(query: q.reshaped([b, l, heads, dimHead]), key: k.reshaped([b, s, heads, dimHead]),
                                                           value: v.reshaped([b, s, heads, dimHead]), context: context)
            }
            out = toOut(attended.reshaped([b, l, inner]), context)
        } else {
            let (qs, ks, vs) = (Shape.chunk(q, b, dim: 0), Shape.chunk(k, b, dim: 0), Shape.chunk(v, b, dim: 0))
            let attended = context.measure("attention core \(s == l ? "self" : "cross")") { (0..<b).map { i in
                Attention.scaledDotProductAttention(query: qs[i].reshaped([l, heads, dimHead]), key: ks[i].reshaped([s, heads, dimHead]),
                                                    value: vs[i].reshaped([s, heads, dimHead]), context: context).reshaped([1, l, inner])
            } }
            out = toOut(b == 1 ? attended[0] : Shape.cat(attended, dim: 0), context)
        }
        if residualConnection { out = Elementwise.add(out, hidden) }
        if rescaleOutputFactor != 1 { out = Elementwise.scale(out, by: 1 / rescaleOutputFactor) }
        return out
    }

    /// The 4-D form: x [B, C, H, W] attends over its H·W positions and comes back as [B, C, H, W].
    public func spatial(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let sequence = Shape.transpose(x.reshaped([b, c, h * w]), 1, 2, context: context)
        let out = callAsFunction(sequence, context)
        return Shape.transpose(out, 1, 2, context: context).reshaped([b, out.shape[2], h, w])
    }
}
