import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTKernels

/// Model-level calls on an `AutoencoderKL` component (`sd15.vae`, `audioldm.vae`, `zeroscope.vae`).
/// Common arguments: `tiled` (false) runs diffusers' `enable_tiling()` path, `tile_sample_size`
/// (the config's `sample_size`) overrides the image tile side (`vae.tile_sample_min_size`; the
/// latent tile follows as ⌊size / 2^(levels−1)⌋, as set by hand in diffusers); `activations`
/// `"runtime"` (default: quantized kernels take 8-bit activations for small batches) or `"f32"`
/// (f32 activations against the dequantized weights: isolates weight quantization).
enum VerifyVAECalls {
    static let all: [VerifyCall] = [decode, encode]
    static let components = ["sd15.vae", "audioldm.vae", "zeroscope.vae"]

    static let decode = VerifyCall(
        "vae_decode", inputs: ["latents"], outputs: ["sample"], components: components,
        summary: "AutoencoderKL decode (post_quant_conv + decoder), latents [N, C, h, w] → sample [N, out, h·f, w·f], f = 2^(levels−1); args tiled (false), tile_sample_size, activations"
    ) { ctx in
        let vae = try AutoencoderKL(ctx.model, component: ctx.probe.component)
        let latents = try ctx.input("latents")
        try check(latents, channels: vae.config.latentChannels, name: "latents")
        let tiling = try tiling(ctx, vae)
        let context = try ctx.activationsContext()
        return ["sample": tiling.map { vae.decodeTiled(latents, tiling: $0, context: context) } ?? vae.decode(latents, context: context)]
    }

    static let encode = VerifyCall(
        "vae_encode", inputs: ["image"], optionalInputs: ["noise"], outputs: ["mean", "logvar", "sample"], components: components,
        summary: "AutoencoderKL encode (encoder + quant_conv) of image [N, in, H, W] → latent_dist mean, logvar (clamped); sample = mean + std·noise when input noise is given; args tiled, tile_sample_size, activations"
    ) { ctx in
        let vae = try AutoencoderKL(ctx.model, component: ctx.probe.component)
        let image = try ctx.input("image")
        try check(image, channels: vae.config.inChannels, name: "image")
        guard vae.config.canEncode(side: image.shape[2]), vae.config.canEncode(side: image.shape[3]) else {
            throw ProbeError("input 'image' \(image.shape) is too small for \(vae.config.blockOutChannels.count) encoder levels")
        }
        let tiling = try tiling(ctx, vae)
        let context = try ctx.activationsContext()
        let posterior = tiling.map { vae.encodeTiled(image, tiling: $0, context: context) } ?? vae.encode(image, context: context)
        var outputs = ["mean": posterior.mean, "logvar": posterior.logvar]
        if let noise = try ctx.optionalInput("noise") {
            guard noise.shape == posterior.mean.shape else {
                throw ProbeError("input 'noise' has shape \(noise.shape), the posterior \(posterior.mean.shape)")
            }
            outputs["sample"] = posterior.sample(noise: noise)
        }
        return outputs
    }

    static func check(_ x: Tensor, channels: Int, name: String) throws {
        guard x.rank == 4, x.shape[1] == channels, x.count > 0 else {
            throw ProbeError("input '\(name)' has shape \(x.shape), expected [N, \(channels), H, W]")
        }
    }

    /// The tiling the probe asks for, or nil for the plain path.
    static func tiling(_ ctx: ProbeContext, _ vae: AutoencoderKL) throws -> VAETiling? {
        guard try ctx.bool("tiled", default: false) else {
            if ctx.args["tile_sample_size"].map({ $0 != .null }) == true {
                throw ProbeError("argument 'tile_sample_size' needs tiled: true")
            }
            return nil
        }
        let size = try ctx.int("tile_sample_size", default: vae.config.sampleSize)
        let tiling = vae.tiling(sampleSize: size)
        guard size > 0, tiling.isUsable else {
            throw ProbeError("tile_sample_size \(size) gives latent tiles of \(tiling.latentSize): too small to tile")
        }
        return tiling
    }
}
