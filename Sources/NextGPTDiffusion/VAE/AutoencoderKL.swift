import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// The `AutoencoderKL` constructor arguments (diffusers 0.42 defaults for absent keys).
public struct AutoencoderKLConfig: Sendable {
    /// Every VAE norm (resnets, mid-block attention, `conv_norm_out`) uses diffusers' 1e-6.
    public static let eps: Float = 1e-6

    public var inChannels: Int
    public var outChannels: Int
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var latentChannels: Int
    public var normNumGroups: Int
    /// The image side the VAE was trained at; tiled encode/decode uses it as the tile size.
    public var sampleSize: Int
    public var scalingFactor: Double
    public var shiftFactor: Double?
    public var useQuantConv: Bool
    public var usePostQuantConv: Bool
    public var midBlockAddAttention: Bool

    /// The resolution factor between image and latents: 2^(levels − 1).
    public var downscaleFactor: Int { 1 << (blockOutChannels.count - 1) }

    /// Whether an image side survives the encoder: each downsampling pads one row/column and takes
    /// a stride-2 3×3 window, so it needs ≥ 2 positions and leaves ⌈side/2⌉.
    public func canEncode(side: Int) -> Bool {
        var side = side
        for _ in 1..<blockOutChannels.count {
            guard side >= 2 else { return false }
            side = (side + 1) / 2
        }
        return side >= 1
    }

    public init(_ config: DiffusersConfig) throws {
        inChannels = try config.int("in_channels", default: 3)
        outChannels = try config.int("out_channels", default: 3)
        blockOutChannels = try config.ints("block_out_channels", default: [64])
        layersPerBlock = try config.int("layers_per_block", default: 1)
        latentChannels = try config.int("latent_channels", default: 4)
        normNumGroups = try config.int("norm_num_groups", default: 32)
        // diffusers also accepts [h, w] here and then takes the first entry for the tile sizes.
        if let sizes = config.present("sample_size") as? [NSNumber], let first = sizes.first {
            sampleSize = first.intValue
        } else {
            sampleSize = try config.int("sample_size", default: 32)
        }
        scalingFactor = try config.double("scaling_factor", default: 0.18215)
        shiftFactor = try config.optionalDouble("shift_factor")
        useQuantConv = try config.bool("use_quant_conv", default: true)
        usePostQuantConv = try config.bool("use_post_quant_conv", default: true)
        midBlockAddAttention = try config.bool("mid_block_add_attention", default: true)

        let levels = blockOutChannels.count
        guard levels > 0, blockOutChannels.allSatisfy({ $0 > 0 }) else {
            throw FormatError(config.origin, "'block_out_channels' must list at least one positive width")
        }
        guard layersPerBlock > 0, latentChannels > 0, inChannels > 0, outChannels > 0, sampleSize > 0 else {
            throw FormatError(config.origin, "layers_per_block, latent/in/out channels and sample_size must be positive")
        }
        let down = try config.strings("down_block_types", default: ["DownEncoderBlock2D"])
        let up = try config.strings("up_block_types", default: ["UpDecoderBlock2D"])
        guard down.count == levels, up.count == levels else {
            throw FormatError(config.origin, "\(down.count) down and \(up.count) up block types for \(levels) block_out_channels")
        }
        if let other = down.first(where: { $0 != "DownEncoderBlock2D" }) ?? up.first(where: { $0 != "UpDecoderBlock2D" }) {
            throw FormatError(config.origin, "block type '\(other)' is not supported (only DownEncoderBlock2D / UpDecoderBlock2D)")
        }
        let act = try config.string("act_fn", default: "silu")
        guard act == "silu" || act == "swish" else {
            throw FormatError(config.origin, "act_fn '\(act)' is not supported (only silu)")
        }
    }
}

/// diffusers `DiagonalGaussianDistribution`: the encoder's moments split into mean and
/// log-variance along the channels, the log-variance clamped to [−30, 20].
public struct DiagonalGaussianDistribution: Sendable {
    public let mean: Tensor
    public let logvar: Tensor
    /// exp(0.5 · logvar).
    public let std: Tensor

    /// moments [N, 2·C, h, w].
    public init(moments: Tensor) {
        precondition(moments.rank == 4 && moments.shape[1] % 2 == 0, "moments \(moments.shape) are not [N, 2·C, h, w]")
        let halves = Shape.chunk(moments, 2, dim: 1)
        mean = halves[0]
        var clamped = halves[1]
        clamped.withUnsafeMutableBufferPointer { v in
            for i in v.indices { v[i] = min(max(v[i], -30), 20) }
        }
        logvar = clamped
        var deviation = clamped
        deviation.withUnsafeMutableBufferPointer { v in
            for i in v.indices { v[i] = Foundation.exp(0.5 * v[i]) }
        }
        std = deviation
    }

    /// exp(logvar).
    public var variance: Tensor {
        var out = logvar
        out.withUnsafeMutableBufferPointer { v in for i in v.indices { v[i] = Foundation.exp(v[i]) } }
        return out
    }

    /// `mean + std · noise` for standard-normal `noise` of the mean's shape (the pipeline draws
    /// it from its torch-identical generator, as `randn_tensor(mean.shape, generator)`).
    public func sample(noise: Tensor) -> Tensor {
        precondition(noise.shape == mean.shape, "noise \(noise.shape) for a distribution of \(mean.shape)")
        var out = mean
        out.withUnsafeMutableBufferPointer { o in
            std.withUnsafeBufferPointer { s in
                noise.withUnsafeBufferPointer { n in
                    for i in o.indices { o[i] += s[i] * n[i] }
                }
            }
        }
        return out
    }

    /// The mean.
    public func mode() -> Tensor { mean }
}

/// diffusers `AutoencoderKL` (models/autoencoders/autoencoder_kl.py), the latent VAE of Stable
/// Diffusion, AudioLDM and ZeroScope: `encoder` + `quant_conv` (1×1) give the posterior of an image
/// in [−1, 1]; `post_quant_conv` (1×1) + `decoder` turn latents back into an image. Scaling by
/// `scaling_factor` is the caller's business, as in the pipelines.
public final class AutoencoderKL: Sendable {
    public let config: AutoencoderKLConfig
    public let component: String
    let encoder: VAEEncoder
    let decoder: VAEDecoder
    let quantConv: Conv2d?
    let postQuantConv: Conv2d?

    /// The VAE stored as `component` (e.g. `sd15.vae`), built from `<component>.config`.
    public convenience init(_ file: ModelFile, component: String, options: LoadOptions = LoadOptions()) throws {
        let config = try AutoencoderKLConfig(DiffusersConfig.load(file, component: component))
        try self.init(try Weights.component(file, component, options: options), config: config)
    }

    public init(_ w: Weights, config: AutoencoderKLConfig) throws {
        self.config = config
        component = w.prefix
        encoder = try VAEEncoder(w.pp("encoder"), config: config)
        decoder = try VAEDecoder(w.pp("decoder"), config: config)
        let latent = config.latentChannels
        quantConv = config.useQuantConv ? try w.conv2d("quant_conv", in: 2 * latent, out: 2 * latent, kernel: 1) : nil
        postQuantConv = config.usePostQuantConv ? try w.conv2d("post_quant_conv", in: latent, out: latent, kernel: 1) : nil
        try w.finish()
    }

    /// `vae.encode(image).latent_dist` for image [N, in, H, W] in [−1, 1], any H, W that
    /// `config.canEncode(side:)` accepts (≥ 2^(levels−2) + 1; odd sizes are fine).
    public func encode(_ image: Tensor, context: ExecutionContext) -> DiagonalGaussianDistribution {
        context.withActivationArena("vae encode") { DiagonalGaussianDistribution(moments: moments(image, context)) }
    }

    /// `vae.decode(latents).sample`: latents [N, latent, h, w] (already divided by the scaling
    /// factor) → [N, out, h·f, w·f] with f = 2^(levels − 1).
    public func decode(_ latents: Tensor, context: ExecutionContext) -> Tensor {
        checkInput(latents, channels: config.latentChannels, what: "latents")
        return context.withActivationArena("vae decode") { decoder(postQuantConv.map { $0(latents, context) } ?? latents, context) }
    }

    /// `encoder` + `quant_conv`: the posterior's moments [N, 2·latent, ⌈H/f⌉, ⌈W/f⌉].
    func moments(_ image: Tensor, _ context: ExecutionContext) -> Tensor {
        checkInput(image, channels: config.inChannels, what: "image")
        let encoded = encoder(image, context)
        return quantConv.map { $0(encoded, context) } ?? encoded
    }

    func checkInput(_ x: Tensor, channels: Int, what: String) {
        precondition(x.rank == 4 && x.shape[1] == channels && x.count > 0,
                     "\(component): \(what) \(x.shape) are not [N, \(channels), H, W]")
    }
}
