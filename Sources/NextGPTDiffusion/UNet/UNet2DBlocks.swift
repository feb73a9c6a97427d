import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// What every UNet block shares: the resnet settings the UNet config gives them all.
public struct UNetBlockSettings: Sendable {
    public var tembChannels: Int
    public var groups: Int
    public var eps: Float
    public var timeEmbeddingNorm: ResnetBlock2D.TimeEmbeddingNorm
    public var useLinearProjection: Bool

    public init(tembChannels: Int, groups: Int, eps: Float, timeEmbeddingNorm: ResnetBlock2D.TimeEmbeddingNorm,
                useLinearProjection: Bool) {
        self.tembChannels = tembChannels
        self.groups = groups
        self.eps = eps
        self.timeEmbeddingNorm = timeEmbeddingNorm
        self.useLinearProjection = useLinearProjection
    }
}

/// The transformer part of a cross-attention block (`CrossAttnDownBlock2D`, `CrossAttnUpBlock2D`,
/// `UNetMidBlock2DCrossAttn` and their 3-D twins): heads, layers and context width at that level.
public struct UNetAttentionSettings: Sendable {
    public var heads: Int
    /// nil: `channels / heads` (the 2-D blocks); the 3-D blocks fix the width instead (`headDim`).
    public var headDim: Int?
    public var transformerLayers: Int
    public var crossAttentionDim: Int
    public var onlyCrossAttention: Bool

    public init(heads: Int, headDim: Int? = nil, transformerLayers: Int, crossAttentionDim: Int, onlyCrossAttention: Bool) {
        self.heads = heads
        self.headDim = headDim
        self.transformerLayers = transformerLayers
        self.crossAttentionDim = crossAttentionDim
        self.onlyCrossAttention = onlyCrossAttention
    }

    /// The 3-D blocks' heads: diffusers builds them as `Transformer2DModel(out_channels // n, n)` with
    /// n the config's per-block `attention_head_dim`, so n is the head width and the channels give the count.
    public static func video(headDim: Int, channels: Int, crossAttentionDim: Int) -> UNetAttentionSettings {
        UNetAttentionSettings(heads: headDim > 0 ? channels / headDim : 0, headDim: headDim, transformerLayers: 1,
                              crossAttentionDim: crossAttentionDim, onlyCrossAttention: false)
    }

    func checkedHeads(_ w: Weights, channels: Int) throws -> (heads: Int, headDim: Int) {
        guard heads > 0, channels >= heads else {
            throw FormatError(w.path, tensor: w.prefix, "\(channels) channels cannot form \(heads) attention heads")
        }
        // The 2-D blocks: diffusers passes `out_channels // num_attention_heads` as the head width.
        return (heads, headDim ?? channels / heads)
    }

    func transformer(_ w: Weights, channels: Int, block: UNetBlockSettings) throws -> Transformer2DModel {
        let (heads, headDim) = try checkedHeads(w, channels: channels)
        return try Transformer2DModel(w, heads: heads, headDim: headDim, inChannels: channels,
                                      numLayers: transformerLayers, crossAttentionDim: crossAttentionDim, normGroups: block.groups,
                                      useLinearProjection: block.useLinearProjection, onlyCrossAttention: onlyCrossAttention)
    }

    /// The temporal transformer a 3-D block puts after each spatial one: same heads, one layer.
    func temporalTransformer(_ w: Weights, channels: Int, block: UNetBlockSettings) throws -> TransformerTemporalModel {
        let (heads, headDim) = try checkedHeads(w, channels: channels)
        return try TransformerTemporalModel(w, heads: heads, headDim: headDim, inChannels: channels, normGroups: block.groups)
    }
}

/// diffusers `DownBlock2D` (no `attentions`) and `CrossAttnDownBlock2D`: resnets, each followed
/// by its transformer when there is one, every output kept for the up path, then the optional
/// stride-2 `downsamplers.0` (whose output is kept too). With `temporal`, `DownBlock3D` and
/// `CrossAttnDownBlock3D`: each resnet and transformer followed by its temporal layer.
public final class UNetDownBlock: Sendable {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let temporal: TemporalLayers
    let downsampler: Downsample2D?

    public init(_ w: Weights, layers: Int, in inChannels: Int, out outChannels: Int,
                addDownsample: Bool, downsamplePadding: Int, block: UNetBlockSettings, attention: UNetAttentionSettings?,
                temporal: Bool = false) throws {
        resnets = try (0..<layers).map { i in
            try ResnetBlock2D(w.pp("resnets").pp(i), in: i == 0 ? inChannels : outChannels, out: outChannels,
                              tembChannels: block.tembChannels, groups: block.groups, eps: block.eps,
                              timeEmbeddingNorm: block.timeEmbeddingNorm)
        }
        attentions = try attention.map { settings in
            try (0..<layers).map { try settings.transformer(w.pp("attentions").pp($0), channels: outChannels, block: block) }
        } ?? []
        self.temporal = temporal
            ? try TemporalLayers(w, resnets: layers, attentions: attentions.count, channels: outChannels, block: block, attention: attention)
            : .none
        downsampler = addDownsample
            ? try Downsample2D(w.pp("downsamplers").pp(0), channels: outChannels, padding: downsamplePadding) : nil
    }

    /// → (hidden states, the skip connections this block adds). `numFrames`: frames per video
    /// folded into the batch (the temporal layers' unit; 1 for images).
    public func callAsFunction(_ input: Tensor, temb: Tensor, encoderHiddenStates: Tensor?, numFrames: Int = 1,
                               _ context: ExecutionContext) -> (Tensor, [Tensor]) {
        var hidden = input
        var outputs: [Tensor] = []
        for (i, resnet) in resnets.enumerated() {
            hidden = temporal.afterResnet(i, resnet(hidden, temb: temb, context), numFrames: numFrames, context)
            if !attentions.isEmpty {
                hidden = temporal.afterAttention(i, attentions[i](hidden, encoderHiddenStates: encoderHiddenStates, context),
                                                 numFrames: numFrames, context)
            }
            outputs.append(hidden)
        }
        if let downsampler {
            hidden = downsampler(hidden, context)
            outputs.append(hidden)
        }
        return (hidden, outputs)
    }
}

/// diffusers `UpBlock2D` (no `attentions`) and `CrossAttnUpBlock2D`: each resnet takes the
/// hidden states concatenated with the latest unused skip connection, then its transformer; the
/// optional `upsamplers.0` doubles the size, or meets the size of the next skip when the UNet
/// passes one (odd latent sizes). With `temporal`, `UpBlock3D` and `CrossAttnUpBlock3D`.
public final class UNetUpBlock: Sendable {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let temporal: TemporalLayers
    let upsampler: Upsample2D?

    public var layers: Int { resnets.count }

    public init(_ w: Weights, layers: Int, in inChannels: Int, out outChannels: Int, prevOutput: Int,
                addUpsample: Bool, block: UNetBlockSettings, attention: UNetAttentionSettings?, temporal: Bool = false) throws {
        resnets = try (0..<layers).map { i in
            let skipChannels = i == layers - 1 ? inChannels : outChannels
            let resnetIn = i == 0 ? prevOutput : outChannels
            return try ResnetBlock2D(w.pp("resnets").pp(i), in: resnetIn + skipChannels, out: outChannels,
                                     tembChannels: block.tembChannels, groups: block.groups, eps: block.eps,
                                     timeEmbeddingNorm: block.timeEmbeddingNorm)
        }
        attentions = try attention.map { settings in
            try (0..<layers).map { try settings.transformer(w.pp("attentions").pp($0), channels: outChannels, block: block) }
        } ?? []
        self.temporal = temporal
            ? try TemporalLayers(w, resnets: layers, attentions: attentions.count, channels: outChannels, block: block, attention: attention)
            : .none
        upsampler = addUpsample ? try Upsample2D(w.pp("upsamplers").pp(0), channels: outChannels) : nil
    }

    /// `skips`: this block's skip connections in the order the down path made them (the last is used first).
    public func callAsFunction(_ input: Tensor, skips: [Tensor], temb: Tensor, encoderHiddenStates: Tensor?,
                               upsampleSize: [Int]?, numFrames: Int = 1, _ context: ExecutionContext) -> Tensor {
        precondition(skips.count == resnets.count, "up block: \(skips.count) skip connections for \(resnets.count) resnets")
        var hidden = input
        for (i, resnet) in resnets.enumerated() {
            hidden = resnet(Shape.cat([hidden, skips[skips.count - 1 - i]], dim: 1), temb: temb, context)
            hidden = temporal.afterResnet(i, hidden, numFrames: numFrames, context)
            if !attentions.isEmpty {
                hidden = temporal.afterAttention(i, attentions[i](hidden, encoderHiddenStates: encoderHiddenStates, context),
                                                 numFrames: numFrames, context)
            }
        }
        if let upsampler { hidden = upsampler(hidden, outputSize: upsampleSize, context) }
        return hidden
    }
}

/// diffusers `UNetMidBlock2DCrossAttn` (resnet, then transformer + resnet pairs) and
/// `UNetMidBlock2D` as `get_mid_block` builds it for the UNet (one resnet, no attention). Every
/// resnet divides by `mid_block_scale_factor`. With `temporal`, `UNetMidBlock3DCrossAttn`.
public final class UNetMidBlock: Sendable {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let temporal: TemporalLayers

    public init(_ w: Weights, channels: Int, outputScaleFactor: Float, block: UNetBlockSettings,
                attention: UNetAttentionSettings?, temporal: Bool = false) throws {
        let count = attention == nil ? 1 : 2
        resnets = try (0..<count).map { i in
            try ResnetBlock2D(w.pp("resnets").pp(i), in: channels, out: channels, tembChannels: block.tembChannels,
                              groups: block.groups, eps: block.eps, timeEmbeddingNorm: block.timeEmbeddingNorm,
                              outputScaleFactor: outputScaleFactor)
        }
        attentions = try attention.map { [try $0.transformer(w.pp("attentions").pp(0), channels: channels, block: block)] } ?? []
        self.temporal = temporal
            ? try TemporalLayers(w, resnets: count, attentions: attentions.count, channels: channels, block: block, attention: attention)
            : .none
    }

    public func callAsFunction(_ input: Tensor, temb: Tensor, encoderHiddenStates: Tensor?, numFrames: Int = 1,
                               _ context: ExecutionContext) -> Tensor {
        var hidden = temporal.afterResnet(0, resnets[0](input, temb: temb, context), numFrames: numFrames, context)
        for (i, (attention, resnet)) in zip(attentions, resnets.dropFirst()).enumerated() {
            hidden = temporal.afterAttention(i, attention(hidden, encoderHiddenStates: encoderHiddenStates, context),
                                             numFrames: numFrames, context)
            hidden = temporal.afterResnet(i + 1, resnet(hidden, temb: temb, context), numFrames: numFrames, context)
        }
        return hidden
    }
}
