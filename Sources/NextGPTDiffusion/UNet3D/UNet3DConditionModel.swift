import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// diffusers `UNet3DConditionModel` (models/unets/unet_3d_condition.py): ModelScope's and
/// ZeroScope's video noise predictor, built from the component's config.json. The spatial layers
/// are the 2-D UNet's, run on the frames folded into the batch ([N·F, C, H, W], the frames of a
/// video consecutive); the temporal layers (`transformer_in`, each block's `temp_convs` and
/// `temp_attentions`) unfold them again.
public final class UNet3DConditionModel: Sendable {
    public let config: UNet3DConditionConfig
    let convIn: Conv2d
    let timeProj: Timesteps
    let timeEmbedding: TimestepEmbedding
    let transformerIn: TransformerTemporalModel
    let downBlocks: [UNetDownBlock]
    let midBlock: UNetMidBlock
    let upBlocks: [UNetUpBlock]
    let convNormOut: GroupNorm
    let convOut: Conv2d

    /// `component`: the container prefix, e.g. "zeroscope.unet".
    public convenience init(_ file: ModelFile, component: String, options: LoadOptions = LoadOptions()) throws {
        let config = try UNet3DConditionConfig(try DiffusersConfig.load(file, component: component))
        try self.init(try Weights.component(file, component, options: options), config: config)
    }

    public init(_ w: Weights, config c: UNet3DConditionConfig) throws {
        config = c
        let channels = c.blockOutChannels
        let blocks = channels.count
        convIn = try w.conv2d("conv_in", in: c.inChannels, out: channels[0], kernel: 3, padding: 1)
        timeProj = Timesteps(numChannels: channels[0], flipSinToCos: true, downscaleFreqShift: 0)
        timeEmbedding = try TimestepEmbedding(w.pp("time_embedding"), in: channels[0], timeEmbedDim: c.timeEmbeddingDim, act: c.actFn)
        transformerIn = try TransformerTemporalModel(w.pp("transformer_in"), heads: UNet3DConditionConfig.transformerInHeads,
                                                     headDim: c.attentionHeadDim, inChannels: channels[0], normGroups: c.normNumGroups)

        // The 3-D blocks' transformers project linearly (`get_down_block`'s default use_linear_projection=True).
        let settings = UNetBlockSettings(tembChannels: c.timeEmbeddingDim, groups: c.normNumGroups, eps: c.normEps,
                                         timeEmbeddingNorm: .default, useLinearProjection: true)
        func attention(_ type: String, channels: Int) -> UNetAttentionSettings? {
            type.hasPrefix("CrossAttn")
                ? .video(headDim: c.attentionHeadDim, channels: channels, crossAttentionDim: c.crossAttentionDim) : nil
        }
        downBlocks = try c.downBlockTypes.enumerated().map { i, type in
            try UNetDownBlock(w.pp("down_blocks").pp(i), layers: c.layersPerBlock, in: channels[max(i - 1, 0)], out: channels[i],
                              addDownsample: i < blocks - 1, downsamplePadding: c.downsamplePadding, block: settings,
                              attention: attention(type, channels: channels[i]), temporal: true)
        }
        let last = channels[blocks - 1]
        midBlock = try UNetMidBlock(w.pp("mid_block"), channels: last, outputScaleFactor: c.midBlockScaleFactor, block: settings,
                                    attention: attention("CrossAttn", channels: last), temporal: true)
        upBlocks = try c.upBlockTypes.enumerated().map { i, type in
            let level = blocks - 1 - i  // the up path walks the levels in reverse
            return try UNetUpBlock(w.pp("up_blocks").pp(i), layers: c.layersPerBlock + 1, in: channels[max(level - 1, 0)],
                                   out: channels[level], prevOutput: channels[min(level + 1, blocks - 1)],
                                   addUpsample: i < blocks - 1, block: settings,
                                   attention: attention(type, channels: channels[level]), temporal: true)
        }
        convNormOut = try w.groupNorm("conv_norm_out", groups: c.normNumGroups, channels: channels[0], eps: c.normEps)
        convOut = try w.conv2d("conv_out", in: channels[0], out: c.outChannels, kernel: 3, padding: 1)
        try w.finish()
    }

    /// The UNet's noise prediction, as diffusers' `unet(sample, timestep, encoder_hidden_states=…).sample`.
    /// - sample: [N, in_channels, F, H, W]
    /// - timestep: one per video, or one for all (fractional values allowed; taken as f32 as diffusers does)
    /// - encoderHiddenStates: [N, S, cross_attention_dim]
    /// - Returns: [N, out_channels, F, H, W]
    public func callAsFunction(sample input: Tensor, timestep: [Double], encoderHiddenStates: Tensor,
                               context: ExecutionContext) throws -> Tensor {
        try context.withActivationArena("unet") {
            try forward(sample: input, timestep: timestep, encoderHiddenStates: encoderHiddenStates, context: context)
        }
    }

    func forward(sample input: Tensor, timestep: [Double], encoderHiddenStates: Tensor,
                 context: ExecutionContext) throws -> Tensor {
        guard input.rank == 5, input.shape[1] == config.inChannels, input.shape[0] > 0, input.shape[2] > 0 else {
            throw UNetInputError("sample \(input.shape) is not [N, \(config.inChannels), F, H, W]")
        }
        let (n, frames, h, w) = (input.shape[0], input.shape[2], input.shape[3], input.shape[4])
        guard encoderHiddenStates.rank == 3, encoderHiddenStates.shape[0] == n else {
            throw UNetInputError("encoder_hidden_states \(encoderHiddenStates.shape) is not [\(n), S, C] for a batch of \(n)")
        }
        guard encoderHiddenStates.shape[2] == config.crossAttentionDim else {
            throw UNetInputError("encoder_hidden_states width \(encoderHiddenStates.shape[2]) differs from cross_attention_dim \(config.crossAttentionDim)")
        }
        guard timestep.count == 1 || timestep.count == n else {
            throw UNetInputError("\(timestep.count) timesteps for a batch of \(n) (give one, or one per video)")
        }
        let timesteps = (timestep.count == 1 ? [Double](repeating: timestep[0], count: n) : timestep).map(Float.init)

        // Every frame gets its video's time embedding and text.
        let emb = Shape.repeatInterleave(timeEmbedding(timeProj(timesteps), context), frames)
        let encoder = Shape.repeatInterleave(encoderHiddenStates, frames)

        // Latent sizes that the up path cannot reach by doubling: each upsampler is told the size of the skip it meets.
        let overallUpFactor = 1 << (upBlocks.count - 1)
        let forwardUpsampleSize = h % overallUpFactor != 0 || w % overallUpFactor != 0

        // [N, C, F, H, W] → [N·F, C, H, W]
        var sample = Shape.permute(input, [0, 2, 1, 3, 4], context: context).reshaped([n * frames, config.inChannels, h, w])
        sample = convIn(sample, context)
        sample = transformerIn(sample, numFrames: frames, context)
        var skips = [sample]
        for block in downBlocks {
            let (hidden, outputs) = block(sample, temb: emb, encoderHiddenStates: encoder, numFrames: frames, context)
            sample = hidden
            skips += outputs
        }
        sample = midBlock(sample, temb: emb, encoderHiddenStates: encoder, numFrames: frames, context)
        for (i, block) in upBlocks.enumerated() {
            let own = Array(skips.suffix(block.layers))
            skips.removeLast(block.layers)
            let upsampleSize = i < upBlocks.count - 1 && forwardUpsampleSize ? Array(skips[skips.count - 1].shape[2...]) : nil
            sample = block(sample, skips: own, temb: emb, encoderHiddenStates: encoder, upsampleSize: upsampleSize,
                           numFrames: frames, context)
        }
        var out = convNormOut(sample, context)
        Activations.siluInPlace(&out, context: context)
        out = convOut(out, context)
        // [N·F, C, H, W] → [N, C, F, H, W]
        return Shape.permute(out.reshaped([n, frames, config.outChannels, h * w]), [0, 2, 1, 3], context: context)
            .reshaped([n, config.outChannels, frames, h, w])
    }
}
