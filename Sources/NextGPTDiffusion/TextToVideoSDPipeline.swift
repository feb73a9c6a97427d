import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTTokenizers

/// One video request, with diffusers' `TextToVideoSDPipeline.__call__` argument meanings (and,
/// as JSON, their names: TextToVideoRequest+Codable.swift).
public struct TextToVideoRequest: Sendable {
    public var prompt: String
    public var negativePrompt: String = ""
    public var steps: Int = 50
    /// NExT-GPT's 7.5 (`custom_vd.py`); diffusers' own default is 9.0.
    public var guidanceScale: Double = 7.5
    /// diffusers' default: 16 frames (2 s at 8 fps).
    public var numFrames: Int = 16
    /// `pndm`, `ddim`, `euler`, `euler-a`; nil = the scheduler the pipeline was saved with (DDIM for ZeroScope).
    public var scheduler: String?
    /// Pixels, multiples of 8; nil = the UNet's `sample_size` × the VAE's scale factor.
    public var height: Int?
    public var width: Int?
    public var seed: UInt64 = 0
    /// DDIM's η (ignored by the other schedulers, as diffusers ignores it).
    public var eta: Double = 0
    /// Use the output of the layer `clipSkip` before the last for the prompt (diffusers' `clip_skip`).
    public var clipSkip: Int = 0
    /// Frames the VAE decodes at once (diffusers decodes all of them in one batch; the frames are
    /// independent, so fewer at a time bound the memory without changing a value).
    public var decodeChunkSize: Int = 1
    /// Run classifier-free guidance's two halves (negative, positive) as two UNet calls of one video
    /// each instead of one call on a batch of two: the same values (every layer treats the videos of
    /// a batch apart) at half the activation memory. nil = split when one video holds more latent
    /// positions than 8 frames at 320 × 576 (NExT-GPT's 24 frames would need ~8 GB batched).
    public var splitGuidanceBatch: Bool?
    /// Decode each frame in overlapping tiles (diffusers' `vae.enable_tiling()`).
    public var vaeTiling = false
    /// Initial latents [1, C, F, h, w] instead of drawing them from the seed (diffusers' `latents=`).
    public var latents: Tensor?
    /// Text-encoder outputs [1, 77, D] used instead of encoding `prompt` / `negativePrompt`
    /// (diffusers' `prompt_embeds=` / `negative_prompt_embeds=`: NExT-GPT's video projector output).
    public var promptEmbeds: Tensor?
    public var negativePromptEmbeds: Tensor?

    public init(prompt: String) { self.prompt = prompt }
}

/// diffusers' `TextToVideoSDPipeline` (ZeroScope, ModelScope) over the components
/// `<pipeline>.text_encoder`, `<pipeline>.unet` (a UNet3DConditionModel) and `<pipeline>.vae` of one
/// container, with the tokenizer and scheduler config stored beside them.
public final class TextToVideoSDPipeline: Sendable {
    public let pipeline: String
    public let model: ModelFile
    public let tokenizer: CLIPTokenizer
    /// Nil when the container was converted with `--drop-text-encoders`: prompts then come as embeddings.
    public let textEncoder: CLIPTextModel?
    public let unet: UNet3DConditionModel
    public let vae: AutoencoderKL
    let schedulerConfig: String
    /// 2^(VAE levels − 1): pixels per latent position.
    public let vaeScaleFactor: Int
    /// The UNet's `sample_size` (latent positions per side it was trained at).
    public let sampleSize: Int

    /// `options` apply to every component (e.g. `repackQuantized`, as `nextgpt video` loads them).
    public init(_ model: ModelFile, pipeline: String = "zeroscope", options: LoadOptions = LoadOptions()) throws {
        self.pipeline = pipeline
        self.model = model
        tokenizer = try CLIPTokenizer(metadata: model.metadata, prefix: "\(pipeline).tokenizer")
        textEncoder = model.container.tensors(of: "\(pipeline).text_encoder").isEmpty
            ? nil : try CLIPTextModel(model, component: "\(pipeline).text_encoder", options: options)
        unet = try UNet3DConditionModel(model, component: "\(pipeline).unet", options: options)
        vae = try AutoencoderKL(model, component: "\(pipeline).vae", options: options)
        guard case .string(let text)? = model.metadata["\(pipeline).scheduler.config"] else {
            throw FormatError(model.container.file.path, "pipeline '\(pipeline)' has no \(pipeline).scheduler.config")
        }
        schedulerConfig = text
        vaeScaleFactor = 1 << (vae.config.blockOutChannels.count - 1)
        sampleSize = try DiffusersConfig.load(model, component: "\(pipeline).unet").int("sample_size", default: 32)
    }

    public var defaultSize: Int { sampleSize * vaeScaleFactor }

    var promptConditioning: PromptConditioning {
        PromptConditioning(path: model.container.file.path, pipeline: pipeline, tokenizer: tokenizer, textEncoder: textEncoder,
                           width: unet.config.crossAttentionDim)
    }

    /// Runs the request: `__call__(output_type="np").frames[0]`, the frames [F, H, W, 3] in [0, 1].
    /// `onStep(done, total, stats)` after every denoising step, `onDecode(done, total, stats)`
    /// after every decoded chunk of frames (either may throw to stop). Every component runs in `context`.
    public func generate(_ request: TextToVideoRequest, context: ExecutionContext,
                         onStep: (Int, Int, StableDiffusionStats) throws -> Void = { _, _, _ in },
                         onDecode: (Int, Int, StableDiffusionStats) throws -> Void = { _, _, _ in }) throws
        -> (frames: Tensor, stats: StableDiffusionStats) {
        let path = model.container.file.path
        let height = request.height ?? defaultSize
        let width = request.width ?? defaultSize
        guard height % 8 == 0, width % 8 == 0, height > 0, width > 0 else {
            throw FormatError(path, "height and width must be positive multiples of 8, got \(height)×\(width)")
        }
        guard request.steps > 0 else { throw FormatError(path, "steps must be at least 1") }
        guard request.numFrames > 0 else { throw FormatError(path, "num_frames must be at least 1") }
        guard request.decodeChunkSize > 0 else { throw FormatError(path, "decode_chunk_size must be at least 1") }
        var stats = StableDiffusionStats()
        let guided = request.guidanceScale > 1

        var start = Date()
        let conditioning = try promptConditioning.embeddings(
            prompt: request.prompt, negativePrompt: request.negativePrompt, promptEmbeds: request.promptEmbeds,
            negativePromptEmbeds: request.negativePromptEmbeds, clipSkip: request.clipSkip, guided: guided, context: context)
        stats.textEncodeSeconds = Date().timeIntervalSince(start)

        var scheduler = try DenoisingLoop.scheduler(config: schedulerConfig, name: request.scheduler, eta: request.eta,
                                                    steps: request.steps, path: path)
        var generator = TorchGenerator(seed: request.seed)
        let (channels, frames) = (unet.config.inChannels, request.numFrames)
        let (h, w) = (height / vaeScaleFactor, width / vaeScaleFactor)
        let latentShape = [1, channels, frames, h, w]
        var latents: Tensor
        if let given = request.latents {
            guard given.shape == latentShape else {
                throw FormatError(path, "latents \(given.shape) do not fit \(frames) frames of \(height)×\(width): \(latentShape) expected")
            }
            latents = given
        } else {
            latents = generator.randn(latentShape)
        }
        latents = Elementwise.scale(latents, by: scheduler.initNoiseSigma)

        let splitGuidance = request.splitGuidanceBatch ?? (frames * h * w > 8 * 40 * 72)
        let timesteps = scheduler.timesteps
        // The UNet's Winograd kernels are kept for the steps and dropped before the VAE runs.
        var unetContext: ExecutionContext? = context.keepingWinogradKernels()
        // Its activations too: one arena for every step.
        try context.withActivationArena("denoising", repeatingPasses: true) {
            for (index, t) in timesteps.enumerated() {
                start = Date()
                var noise: Tensor
                do {
                    if guided && splitGuidance {
                        let input = try scheduler.scaleModelInput(latents, timestep: t)
                        let halves = try Shape.split(conditioning, splitSize: 1, dim: 0).map {
                            try unet(sample: input, timestep: [t], encoderHiddenStates: $0, context: unetContext ?? context)
                        }
                        noise = Shape.cat(halves, dim: 0)
                    } else {
                        let doubled = guided ? Shape.cat([latents, latents], dim: 0) : latents
                        let input = try scheduler.scaleModelInput(doubled, timestep: t)
                        noise = try unet(sample: input, timestep: [t], encoderHiddenStates: conditioning, context: unetContext ?? context)
                    }
                } catch let error as UNetInputError {
                    throw FormatError(path, "\(pipeline).unet: \(error.description)")
                }
                stats.unetEvaluations += 1
                if guided { noise = DenoisingLoop.guide(noise, scale: request.guidanceScale) }
                // The scheduler steps on the frames folded into the batch: (B, C, F, H, W) → (B·F, C, H, W) and back.
                let folded = try scheduler.step(modelOutput: Self.foldFrames(noise, context: context), timestep: t,
                                                sample: Self.foldFrames(latents, context: context), generator: &generator)
                latents = Self.unfoldFrames(folded, frames: frames, context: context)
                stats.stepSeconds.append(Date().timeIntervalSince(start))
                try onStep(index + 1, timesteps.count, stats)
            }
        }
        unetContext = nil

        if let profile = context.profile {
            FileHandle.standardError.write(Data(("denoising:\n" + profile.report() + "\nVAE decode:\n").utf8))
        }
        // decode_latents: latents / scaling_factor, every frame through the VAE; postprocess_video to [F, H, W, 3].
        start = Date()
        let z = Self.foldFrames(Elementwise.scale(latents, by: Float(1 / vae.config.scalingFactor)), context: context)
        let chunks = Shape.split(z, splitSize: request.decodeChunkSize, dim: 0)
        var video = [Float](repeating: 0, count: frames * height * width * 3)
        var decodedFrames = 0
        for chunk in chunks {
            let decoded = request.vaeTiling ? vae.decodeTiled(chunk, context: context) : vae.decode(chunk, context: context)
            let pixels = decoded.shape[2] * decoded.shape[3]
            guard decoded.shape[1] == 3, decoded.shape[2] == height, decoded.shape[3] == width else {
                throw FormatError(path, "\(pipeline).vae decoded \(decoded.shape), not [\(chunk.shape[0]), 3, \(height), \(width)]")
            }
            decoded.withUnsafeBufferPointer { x in
                for f in 0..<decoded.shape[0] {
                    let frameBase = (decodedFrames + f) * pixels * 3
                    for c in 0..<3 {
                        let plane = (f * 3 + c) * pixels
                        for p in 0..<pixels { video[frameBase + p * 3 + c] = min(max(x[plane + p] / 2 + 0.5, 0), 1) }
                    }
                }
            }
            decodedFrames += decoded.shape[0]
            stats.vaeDecodeSeconds = Date().timeIntervalSince(start)
            try onDecode(decodedFrames, frames, stats)
        }
        return (Tensor(shape: [frames, height, width, 3], values: video), stats)
    }

    /// [B, C, F, H, W] → [B·F, C, H, W] (`permute(0, 2, 1, 3, 4).reshape`).
    static func foldFrames(_ x: Tensor, context: ExecutionContext) -> Tensor {
        let s = x.shape
        return Shape.permute(x, [0, 2, 1, 3, 4], context: context).reshaped([s[0] * s[2], s[1], s[3], s[4]])
    }

    /// [B·F, C, H, W] → [B, C, F, H, W].
    static func unfoldFrames(_ x: Tensor, frames: Int, context: ExecutionContext) -> Tensor {
        let s = x.shape
        return Shape.permute(x.reshaped([s[0] / frames, frames, s[1], s[2], s[3]]), [0, 2, 1, 3, 4], context: context)
    }
}
