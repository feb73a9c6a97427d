import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// diffusers `DownEncoderBlock2D` (models/unets/unet_2d_blocks.py): `resnets` without time
/// embedding, then (except in the last block) `downsamplers.0`, which the VAE encoder builds with
/// `downsample_padding=0` (pad bottom/right, stride-2 convolution).
public final class DownEncoderBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let downsampler: Downsample2D?

    public init(_ w: Weights, in inChannels: Int, out outChannels: Int, layers: Int, groups: Int,
                eps: Float, addDownsample: Bool, downsamplePadding: Int) throws {
        resnets = try (0..<layers).map { i in
            try ResnetBlock2D(w.pp("resnets").pp(i), in: i == 0 ? inChannels : outChannels, out: outChannels,
                              tembChannels: nil, groups: groups, eps: eps)
        }
        downsampler = addDownsample
            ? try Downsample2D(w.pp("downsamplers").pp(0), channels: outChannels, padding: downsamplePadding) : nil
    }

    public func callAsFunction(_ input: consuming Tensor, _ context: ExecutionContext) -> Tensor {
        var hidden = consume input
        for resnet in resnets { hidden = resnet(consume hidden, temb: nil, context) }
        if let downsampler { hidden = downsampler(hidden, context) }
        return hidden
    }
}

/// diffusers `UpDecoderBlock2D`: `resnets` without time embedding, then (except in the last
/// block) `upsamplers.0` (nearest ×2 + 3×3 convolution).
public final class UpDecoderBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let upsampler: Upsample2D?

    public init(_ w: Weights, in inChannels: Int, out outChannels: Int, layers: Int, groups: Int,
                eps: Float, addUpsample: Bool) throws {
        resnets = try (0..<layers).map { i in
            try ResnetBlock2D(w.pp("resnets").pp(i), in: i == 0 ? inChannels : outChannels, out: outChannels,
                              tembChannels: nil, groups: groups, eps: eps)
        }
        upsampler = addUpsample ? try Upsample2D(w.pp("upsamplers").pp(0), channels: outChannels) : nil
    }

    /// The caller's activation is handed down (`consuming`), so the first resnet can reuse it.
    public func callAsFunction(_ input: consuming Tensor, _ context: ExecutionContext) -> Tensor {
        var hidden = consume input
        for resnet in resnets { hidden = resnet(consume hidden, temb: nil, context) }
        if let upsampler { hidden = upsampler(hidden, context) }
        return hidden
    }
}

/// diffusers `UNetMidBlock2D` as the VAE builds it (one layer, `resnet_time_scale_shift="default"`,
/// no time embedding): `resnets.0`, then `attentions.0` (GroupNorm + self-attention + residual;
/// absent with `mid_block_add_attention=false`) and `resnets.1`. The attention has
/// `in_channels / attention_head_dim` heads of `attention_head_dim`, which the VAE sets to the
/// channel count: one head.
public final class UNetMidBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let attentions: [CrossAttention?]

    public init(_ w: Weights, channels: Int, groups: Int, eps: Float, addAttention: Bool,
                attentionHeadDim: Int? = nil, layers: Int = 1) throws {
        let headDim = attentionHeadDim ?? channels
        guard headDim > 0, channels % headDim == 0 else {
            throw FormatError(w.path, tensor: w.key("attentions.0.to_q.weight"),
                              "\(channels) channels do not split into heads of \(headDim)")
        }
        resnets = try (0...layers).map { i in
            try ResnetBlock2D(w.pp("resnets").pp(i), in: channels, out: channels, tembChannels: nil, groups: groups, eps: eps)
        }
        attentions = try (0..<layers).map { i in
            guard addAttention else { return nil }
            return try CrossAttention(w.pp("attentions").pp(i), queryDim: channels, heads: channels / headDim,
                                      dimHead: headDim, bias: true, normGroups: groups, eps: eps, residualConnection: true)
        }
    }

    public func callAsFunction(_ input: Tensor, _ context: ExecutionContext) -> Tensor {
        var hidden = resnets[0](input, temb: nil, context)
        for (attention, resnet) in zip(attentions, resnets.dropFirst()) {
            if let attention { hidden = attention.spatial(hidden, context) }
            hidden = resnet(hidden, temb: nil, context)
        }
        return hidden
    }
}
