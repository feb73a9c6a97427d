import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLayers

/// diffusers `FeedForward` with its default `geglu` activation: `net.0` (`GEGLU`, whose `proj`
/// makes both halves), dropout `net.1`, `net.2` back to `dim`.
public final class FeedForward: Sendable {
    let geluProj: LinearLayer
    let out: LinearLayer

    public init(_ w: Weights, dim: Int, mult: Int = 4) throws {
        let inner = dim * mult
        geluProj = try w.linear("net.0.proj", out: 2 * inner, in: dim, bias: true)
        out = try w.linear("net.2", out: dim, in: inner, bias: true)
    }

    /// [..., dim] → [..., dim].
    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        out(Activations.geglu(geluProj(x, context), context: context), context)
    }
}

/// diffusers `BasicTransformerBlock` as UNet2DConditionModel builds it (`layer_norm`, GEGLU, no
/// attention bias): self-attention `attn1` (cross-attention instead when `only_cross_attention`),
/// cross-attention `attn2`, feed-forward `ff`, each after its LayerNorm and added back.
public final class BasicTransformerBlock: Sendable {
    let norm1: LayerNorm
    let attn1: CrossAttention
    let norm2: LayerNorm
    let attn2: CrossAttention
    let norm3: LayerNorm
    let ff: FeedForward
    let onlyCrossAttention: Bool

    public init(_ w: Weights, dim: Int, heads: Int, headDim: Int, crossAttentionDim: Int,
                onlyCrossAttention: Bool, normEps: Float = 1e-5) throws {
        self.onlyCrossAttention = onlyCrossAttention
        norm1 = try w.layerNorm("norm1", dim: dim, eps: normEps)
        attn1 = try CrossAttention(w.pp("attn1"), queryDim: dim, crossAttentionDim: onlyCrossAttention ? crossAttentionDim : nil,
                                   heads: heads, dimHead: headDim)
        norm2 = try w.layerNorm("norm2", dim: dim, eps: normEps)
        attn2 = try CrossAttention(w.pp("attn2"), queryDim: dim, crossAttentionDim: crossAttentionDim, heads: heads, dimHead: headDim)
        norm3 = try w.layerNorm("norm3", dim: dim, eps: normEps)
        ff = try FeedForward(w.pp("ff"), dim: dim)
    }

    /// hidden [B, L, dim]; encoder [B, S, cross] or nil: then `Attention` takes the normed hidden
    /// states as its context, so `attn2` attends to itself (AudioLDM runs its UNet that way).
    public func callAsFunction(_ input: Tensor, encoderHiddenStates: Tensor?, _ context: ExecutionContext) -> Tensor {
        var hidden = input
        hidden = Elementwise.add(attn1(norm1(hidden, context), encoderHiddenStates: onlyCrossAttention ? encoderHiddenStates : nil,
                                       context), hidden)
        hidden = Elementwise.add(attn2(norm2(hidden, context), encoderHiddenStates: encoderHiddenStates, context), hidden)
        return Elementwise.add(ff(norm3(hidden, context), context), hidden)
    }
}

/// diffusers `Transformer2DModel` on continuous inputs: GroupNorm (eps 1e-6) → `proj_in` (a 1×1
/// convolution, or a Linear on the flattened positions with `use_linear_projection`) →
/// `transformer_blocks` over the H·W positions → `proj_out` → plus the input. A 1×1 projection
/// runs on the positions as rows (`Conv2d.pointwise(rows:)`, the same sums), so the plane is
/// permuted once each way, as for the Linear.
public final class Transformer2DModel: Sendable {
    enum Projection {
        case linear(LinearLayer)
        case conv(Conv2d)
    }

    let norm: GroupNorm
    let projIn: Projection
    let transformerBlocks: [BasicTransformerBlock]
    let projOut: Projection
    public let innerDim: Int

    public init(_ w: Weights, heads: Int, headDim: Int, inChannels: Int, numLayers: Int,
                crossAttentionDim: Int, normGroups: Int, useLinearProjection: Bool, onlyCrossAttention: Bool) throws {
        let inner = heads * headDim
        innerDim = inner
        norm = try w.groupNorm("norm", groups: normGroups, channels: inChannels, eps: 1e-6)
        func projection(_ name: String, out: Int, in inFeatures: Int) throws -> Projection {
            useLinearProjection
                ? .linear(try w.linear(name, out: out, in: inFeatures, bias: true))
                : .conv(try w.conv2d(name, in: inFeatures, out: out, kernel: 1))
        }
        projIn = try projection("proj_in", out: inner, in: inChannels)
        transformerBlocks = try (0..<numLayers).map {
            try BasicTransformerBlock(w.pp("transformer_blocks").pp($0), dim: inner, heads: heads, headDim: headDim,
                                      crossAttentionDim: crossAttentionDim, onlyCrossAttention: onlyCrossAttention)
        }
        projOut = try projection("proj_out", out: inChannels, in: inner)
    }

    /// x [N, C, H, W]; encoder [N, S, cross] or nil → [N, C, H, W].
    public func callAsFunction(_ x: Tensor, encoderHiddenStates: Tensor?, _ context: ExecutionContext) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        var hidden = norm(x, context)
        switch projIn {
        case .conv(let conv): hidden = conv.pointwise(rows: positions(hidden, context), context)
        case .linear(let linear): hidden = linear(positions(hidden, context), context)
        }
        for block in transformerBlocks { hidden = block(hidden, encoderHiddenStates: encoderHiddenStates, context) }
        switch projOut {
        case .conv(let conv): hidden = image(conv.pointwise(rows: hidden, context), n: n, h: h, w: w, context)
        case .linear(let linear): hidden = image(linear(hidden, context), n: n, h: h, w: w, context)
        }
        return Elementwise.add(hidden, x)
    }

    /// [N, C, H, W] → [N, H·W, C].
    func positions(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        return Shape.permute(x, [0, 2, 3, 1], context: context).reshaped([n, h * w, c])
    }

    /// [N, H·W, C] → [N, C, H, W].
    func image(_ x: Tensor, n: Int, h: Int, w: Int, _ context: ExecutionContext) -> Tensor {
        Shape.permute(x.reshaped([n, h, w, x.shape[2]]), [0, 3, 1, 2], context: context)
    }
}
