import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLayers

/// diffusers `TransformerTemporalModel` (models/transformers/transformer_temporal.py) as the
/// video UNet builds it: GroupNorm (eps 1e-6, statistics over all frames of a video) → Linear
/// `proj_in` → `BasicTransformerBlock`s whose sequences are the frames of one position
/// (`double_self_attention`: `attn2` attends to the frames too) → Linear `proj_out` → plus the input.
public final class TransformerTemporalModel: Sendable {
    let norm: GroupNorm
    let projIn: LinearLayer
    let transformerBlocks: [BasicTransformerBlock]
    let projOut: LinearLayer
    public let innerDim: Int

    public init(_ w: Weights, heads: Int, headDim: Int, inChannels: Int, numLayers: Int = 1, normGroups: Int) throws {
        let inner = heads * headDim
        innerDim = inner
        norm = try w.groupNorm("norm", groups: normGroups, channels: inChannels, eps: 1e-6)
        projIn = try w.linear("proj_in", out: inner, in: inChannels, bias: true)
        transformerBlocks = try (0..<numLayers).map {
            try BasicTransformerBlock(w.pp("transformer_blocks").pp($0), dim: inner, heads: heads, headDim: headDim,
                                      crossAttentionDim: inner, onlyCrossAttention: false)
        }
        projOut = try w.linear("proj_out", out: inChannels, in: inner, bias: true)
    }

    /// x [N·F, C, H, W] (frames of a video consecutive) → [N·F, C, H, W].
    public func callAsFunction(_ x: Tensor, numFrames: Int, _ context: ExecutionContext) -> Tensor {
        let video = VideoLayout(x, numFrames: numFrames)
        let (n, f, c, positions) = (video.batch, video.frames, video.channels, video.height * video.width)
        let normed = norm(video.unfold(x, context), context)
        // [N, C, F, H·W] → [N·H·W, F, C]: one sequence of frames per position.
        var hidden = Shape.permute(normed.reshaped([n, c, f, positions]), [0, 3, 2, 1], context: context)
            .reshaped([n * positions, f, c])
        hidden = projIn(hidden, context)
        for block in transformerBlocks { hidden = block(hidden, encoderHiddenStates: nil, context) }
        hidden = projOut(hidden, context)
        // [N, H·W, F, C] → [N, F, C, H·W], i.e. [N·F, C, H, W].
        var out = Shape.permute(hidden.reshaped([n, positions, f, c]), [0, 2, 3, 1], context: context)
            .reshaped(x.shape)
        Elementwise.addInPlace(&out, x)
        return out
    }
}
