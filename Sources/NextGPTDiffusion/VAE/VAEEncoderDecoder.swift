import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLayers

/// diffusers `Encoder` (models/autoencoders/vae.py) with `double_z=True`: `conv_in`, the
/// `down_blocks`, `mid_block`, `conv_norm_out` → SiLU → `conv_out` to 2·latent channels
/// (mean and log-variance). Image [N, in, H, W] → moments [N, 2·latent, H/2^(L−1), W/2^(L−1)]
/// (each downsampling rounds odd sizes up: ⌈size/2⌉).
public final class VAEEncoder: Sendable {
    let convIn: Conv2d
    let downBlocks: [DownEncoderBlock2D]
    let midBlock: UNetMidBlock2D
    let convNormOut: GroupNorm
    let convOut: Conv2d

    public init(_ w: Weights, config: AutoencoderKLConfig) throws {
        let widths = config.blockOutChannels, groups = config.normNumGroups, eps = AutoencoderKLConfig.eps
        convIn = try w.conv2d("conv_in", in: config.inChannels, out: widths[0], kernel: 3, padding: 1)
        var output = widths[0]
        downBlocks = try widths.indices.map { i in
            let input = output
            output = widths[i]
            return try DownEncoderBlock2D(w.pp("down_blocks").pp(i), in: input, out: output, layers: config.layersPerBlock,
                                          groups: groups, eps: eps, addDownsample: i != widths.count - 1, downsamplePadding: 0)
        }
        midBlock = try UNetMidBlock2D(w.pp("mid_block"), channels: widths[widths.count - 1], groups: groups, eps: eps,
                                      addAttention: config.midBlockAddAttention)
        convNormOut = try w.groupNorm("conv_norm_out", groups: groups, channels: widths[widths.count - 1], eps: eps)
        convOut = try w.conv2d("conv_out", in: widths[widths.count - 1], out: 2 * config.latentChannels,
                             kernel: 3, padding: 1)
    }

    public func callAsFunction(_ image: Tensor, _ context: ExecutionContext) -> Tensor {
        var sample = convIn(image, context)
        for block in downBlocks { sample = block(consume sample, context) }
        sample = midBlock(sample, context)
        convNormOut.normalize(&sample, context)
        Activations.siluInPlace(&sample, context: context)
        return convOut(sample, context)
    }
}

/// diffusers `Decoder` with `norm_type="group"`: `conv_in`, `mid_block`, the `up_blocks`
/// (widths reversed, `layers_per_block + 1` resnets each), `conv_norm_out` → SiLU → `conv_out`.
/// Latents [N, latent, h, w] → [N, out, h·2^(L−1), w·2^(L−1)].
public final class VAEDecoder: Sendable {
    let convIn: Conv2d
    let midBlock: UNetMidBlock2D
    let upBlocks: [UpDecoderBlock2D]
    let convNormOut: GroupNorm
    let convOut: Conv2d

    public init(_ w: Weights, config: AutoencoderKLConfig) throws {
        let reversed = Array(config.blockOutChannels.reversed()), groups = config.normNumGroups, eps = AutoencoderKLConfig.eps
        convIn = try w.conv2d("conv_in", in: config.latentChannels, out: reversed[0], kernel: 3, padding: 1)
        midBlock = try UNetMidBlock2D(w.pp("mid_block"), channels: reversed[0], groups: groups, eps: eps,
                                      addAttention: config.midBlockAddAttention)
        var output = reversed[0]
        upBlocks = try reversed.indices.map { i in
            let input = output
            output = reversed[i]
            return try UpDecoderBlock2D(w.pp("up_blocks").pp(i), in: input, out: output, layers: config.layersPerBlock + 1,
                                        groups: groups, eps: eps, addUpsample: i != reversed.count - 1)
        }
        convNormOut = try w.groupNorm("conv_norm_out", groups: groups, channels: config.blockOutChannels[0], eps: eps)
        convOut = try w.conv2d("conv_out", in: config.blockOutChannels[0], out: config.outChannels, kernel: 3, padding: 1)
    }

    /// Each stage's result replaces the previous one, so only the current stage's input, output
    /// and the resnet temporaries are alive at once.
    public func callAsFunction(_ latents: Tensor, _ context: ExecutionContext) -> Tensor {
        var sample = convIn(latents, context)
        sample = midBlock(sample, context)
        for block in upBlocks { sample = block(consume sample, context) }
        convNormOut.normalize(&sample, context)
        Activations.siluInPlace(&sample, context: context)
        return convOut(sample, context)
    }
}
