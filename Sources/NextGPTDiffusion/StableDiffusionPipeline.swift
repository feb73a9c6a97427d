import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTTokenizers

/// One image request, with diffusers' `StableDiffusionPipeline.__call__` argument meanings (and,
/// as JSON, their names: Sessions/StableDiffusionRequest+Codable.swift).
public struct StableDiffusionRequest: Sendable {
    public var prompt: String
    public var negativePrompt: String = ""
    public var steps: Int = 50
    public var guidanceScale: Double = 7.5
    /// `pndm`, `ddim`, `euler`, `euler-a`; nil = the scheduler the pipeline was saved with.
    public var scheduler: String?
    /// Pixels; nil = the UNet's `sample_size` × the VAE's scale factor (512 for SD 1.5).
    public var height: Int?
    public var width: Int?
    public var seed: UInt64 = 0
    /// DDIM's η (ignored by the other schedulers, as diffusers ignores it).
    public var eta: Double = 0
    /// Initial latents [1, C, h, w] instead of drawing them from the seed (diffusers' `latents=`).
    public var latents: Tensor?
    /// Use the output of the layer `clipSkip` before the last for the prompt (diffusers' `clip_skip`).
    public var clipSkip: Int = 0
    /// img2img: the starting image [1, 3, H, W] in [-1, 1] (diffusers' `VaeImageProcessor.preprocess`),
    /// and how much of the schedule to run over it.
    public var initImage: Tensor?
    public var strength: Double = 0.8
    /// Decode the latents in overlapping tiles (diffusers' `vae.enable_tiling()`).
    public var vaeTiling = false
    /// Text-encoder outputs [1, 77, D] used instead of encoding `prompt` / `negativePrompt`
    /// (diffusers' `prompt_embeds=` / `negative_prompt_embeds=`: NExT-GPT's image projector output).
    public var promptEmbeds: Tensor?
    public var negativePromptEmbeds: Tensor?

    public init(prompt: String) { self.prompt = prompt }
}

/// Where the time of one run went.
public struct StableDiffusionStats: Sendable {
    public var textEncodeSeconds = 0.0
    public var stepSeconds: [Double] = []
    public var unetEvaluations = 0
    public var vaeEncodeSeconds = 0.0
    public var vaeDecodeSeconds = 0.0
}

/// diffusers' `StableDiffusionPipeline` and `StableDiffusionImg2ImgPipeline` over the components
/// `<pipeline>.text_encoder`, `<pipeline>.unet`, `<pipeline>.vae` of one container, with the
/// tokenizer and scheduler config stored beside them.
public final class StableDiffusionPipeline: Sendable {
    public let pipeline: String
    public let model: ModelFile
    public let tokenizer: CLIPTokenizer
    /// Nil when the container was converted with `--drop-text-encoders`: prompts then come as embeddings.
    public let textEncoder: CLIPTextModel?
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL
    let schedulerConfig: String
    /// 2^(VAE levels − 1): pixels per latent position.
    public let vaeScaleFactor: Int
    /// The UNet's `sample_size` (latent positions per side it was trained at).
    public let sampleSize: Int

    /// `options` apply to every component (e.g. `repackQuantized`, as `nextgpt sd` loads them).
    public init(_ model: ModelFile, pipeline: String = "sd15", options: LoadOptions = LoadOptions()) throws {
        self.pipeline = pipeline
        self.model = model
        tokenizer = try CLIPTokenizer(metadata: model.metadata, prefix: "\(pipeline).tokenizer")
        textEncoder = model.container.tensors(of: "\(pipeline).text_encoder").isEmpty
            ? nil : try CLIPTextModel(model, component: "\(pipeline).text_encoder", options: options)
        unet = try UNet2DConditionModel(model, component: "\(pipeline).unet", options: options)
        vae = try AutoencoderKL(model, component: "\(pipeline).vae", options: options)
        guard case .string(let text)? = model.metadata["\(pipeline).scheduler.config"] else {
            throw FormatError(model.container.file.path, "pipeline '\(pipeline)' has no \(pipeline).scheduler.config")
        }
        schedulerConfig = text
        vaeScaleFactor = 1 << (vae.config.blockOutChannels.count - 1)
        sampleSize = try DiffusersConfig.load(model, component: "\(pipeline).unet").int("sample_size", default: 64)
    }

    public var defaultSize: Int { sampleSize * vaeScaleFactor }

    /// Runs the request; `onStep(done, total, stats)` after every denoising step (it may throw to stop),
    /// `onDecode(stats)` when the loop and its kept kernels are done and the VAE decode begins. Returns the
    /// decoded sample [1, 3, H, W] in about [-1, 1] (`vae.decode(latents / scaling_factor).sample`);
    /// `imageFromDecoded` makes diffusers' `output_type="np"` image of it. Every component runs
    /// in `context`.
    public func generate(_ request: StableDiffusionRequest, context: ExecutionContext,
                         onStep: (Int, Int, StableDiffusionStats) throws -> Void = { _, _, _ in },
                         onDecode: (StableDiffusionStats) throws -> Void = { _ in }) throws -> (decoded: Tensor, stats: StableDiffusionStats) {
        // img2img keeps the init image's size unless told otherwise, as diffusers does.
        let height = request.height ?? request.initImage.map { $0.shape[2] } ?? defaultSize
        let width = request.width ?? request.initImage.map { $0.shape[3] } ?? defaultSize
        guard height % 8 == 0, width % 8 == 0, height > 0, width > 0 else {
            throw FormatError(model.container.file.path, "height and width must be positive multiples of 8, got \(height)×\(width)")
        }
        guard request.steps > 0 else { throw FormatError(model.container.file.path, "steps must be at least 1") }
        var stats = StableDiffusionStats()
        let guided = request.guidanceScale > 1

        var start = Date()
        let conditioning = try promptConditioning.embeddings(
            prompt: request.prompt, negativePrompt: request.negativePrompt, promptEmbeds: request.promptEmbeds,
            negativePromptEmbeds: request.negativePromptEmbeds, clipSkip: request.clipSkip, guided: guided, context: context)
        stats.textEncodeSeconds = Date().timeIntervalSince(start)

        var loop = try DenoisingLoop(schedulerConfig: schedulerConfig, schedulerName: request.scheduler, eta: request.eta,
                                     steps: request.steps, seed: request.seed, guidanceScale: request.guidanceScale,
                                     path: model.container.file.path)
        let latentShape = [1, unet.config.inChannels, height / vaeScaleFactor, width / vaeScaleFactor]
        var timesteps = loop.scheduler.timesteps
        var latents: Tensor
        if let image = request.initImage {
            // StableDiffusionImg2ImgPipeline: start part-way down the schedule from the noised image latents.
            let kept = loop.scheduler.img2imgTimesteps(steps: request.steps, strength: request.strength)
            guard !kept.isEmpty else { throw FormatError(model.container.file.path, "strength \(request.strength) leaves no denoising step") }
            guard image.rank == 4, image.shape[0] == 1, image.shape[1] == 3, image.shape[2] == height, image.shape[3] == width else {
                throw FormatError(model.container.file.path, "init image \(image.shape) is not [1, 3, \(height), \(width)]")
            }
            timesteps = kept
            start = Date()
            let distribution = vae.encode(image, context: context)
            let encoded = distribution.sample(noise: loop.generator.randn(distribution.mean.shape))
            stats.vaeEncodeSeconds = Date().timeIntervalSince(start)
            let initLatents = Elementwise.scale(encoded, by: Float(vae.config.scalingFactor))
            latents = try loop.scheduler.addNoise(original: initLatents, noise: loop.generator.randn(initLatents.shape), timestep: kept[0])
        } else {
            if let given = request.latents, given.shape != latentShape {
                throw FormatError(model.container.file.path, "latents \(given.shape) do not fit \(height)×\(width): \(latentShape) expected")
            }
            latents = loop.initialLatents(request.latents, shape: latentShape)
        }

        do {
            // The UNet's Winograd kernels are kept for the steps and dropped before the VAE runs.
            // Its activations too: one arena for every step.
            let unetContext = context.keepingWinogradKernels()
            latents = try unetContext.withActivationArena("denoising", repeatingPasses: true) {
                try loop.run(latents, timesteps: timesteps, onStep: { done, total, seconds in
                    stats.stepSeconds.append(seconds)
                    try onStep(done, total, stats)
                }) { input, t in
                    stats.unetEvaluations += 1
                    return try unet(sample: input, timestep: [t], encoderHiddenStates: conditioning, classLabels: nil, context: unetContext)
                }
            }
        }

        if let profile = context.profile {
            FileHandle.standardError.write(Data(("denoising:\n" + profile.report() + "\nVAE decode:\n").utf8))
        }
        try onDecode(stats)
        start = Date()
        let z = Elementwise.scale(latents, by: Float(1 / vae.config.scalingFactor))
        let decoded = request.vaeTiling ? vae.decodeTiled(z, context: context) : vae.decode(z, context: context)
        stats.vaeDecodeSeconds = Date().timeIntervalSince(start)
        return (decoded, stats)
    }

    var promptConditioning: PromptConditioning {
        PromptConditioning(path: model.container.file.path, pipeline: pipeline, tokenizer: tokenizer, textEncoder: textEncoder,
                           width: unet.config.crossAttentionDim.first ?? 0)
    }

    /// VaeImageProcessor.postprocess(output_type="np"): [1, 3, H, W] in [-1, 1] → [H, W, 3] in [0, 1].
    public static func imageFromDecoded(_ x: Tensor) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        let chw = x.values
        return Tensor(shape: [h, w, 3]) { out in
            for c in 0..<3 {
                for p in 0..<(h * w) {
                    out[p * 3 + c] = min(max(chw[c * h * w + p] / 2 + 0.5, 0), 1)
                }
            }
        }
    }
}
