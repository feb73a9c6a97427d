import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTTokenizers

/// One audio request, with diffusers' `AudioLDMPipeline.__call__` argument meanings and defaults
/// (as JSON, their names: AudioLDMRequest+Codable.swift).
public struct AudioLDMRequest: Sendable {
    public var prompt: String
    /// "" is diffusers' `negative_prompt=None` (the empty prompt is the negative then too).
    public var negativePrompt: String = ""
    public var steps: Int = 10
    public var guidanceScale: Double = 2.5
    /// Seconds; nil = the UNet's `sample_size` × the VAE's scale factor × the vocoder's hop (5.12 s for l-full).
    public var audioLengthInS: Double?
    /// `pndm`, `ddim`, `euler`, `euler-a`; nil = the scheduler the pipeline was saved with (DDIM).
    public var scheduler: String?
    public var seed: UInt64 = 0
    /// DDIM's η (ignored by the other schedulers, as diffusers ignores it).
    public var eta: Double = 0
    /// Initial latents [1, C, height / f, model_in_dim / f] instead of drawing them from the seed.
    public var latents: Tensor?
    /// [1, P] used as the UNet's class labels instead of encoding `prompt`, as given (not
    /// normalised: NExT-GPT's audio projector output). `prompt` must then be empty.
    public var promptEmbeds: Tensor?
    /// [1, P] used as the negative instead of encoding `negativePrompt` (NExT-GPT stores the
    /// normalised CLAP embedding of "").
    public var negativePromptEmbeds: Tensor?

    public init(prompt: String) { self.prompt = prompt }
}

/// Where the time of one run went.
public struct AudioLDMStats: Sendable {
    public var textEncodeSeconds = 0.0
    public var stepSeconds: [Double] = []
    public var unetEvaluations = 0
    public var vaeDecodeSeconds = 0.0
    public var vocoderSeconds = 0.0
}

/// diffusers' `AudioLDMPipeline` over the components `<pipeline>.text_encoder` (CLAP),
/// `<pipeline>.unet`, `<pipeline>.vae` and `<pipeline>.vocoder` of one container, with the
/// tokenizer and scheduler config stored beside them.
public final class AudioLDMPipeline: Sendable {
    public let pipeline: String
    public let model: ModelFile
    public let tokenizer: RobertaTokenizer
    /// Nil when the container was converted with `--drop-text-encoders`: prompts then come as embeddings.
    public let textEncoder: ClapTextModelWithProjection?
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL
    public let vocoder: SpeechT5HifiGan
    let schedulerConfig: String
    /// 2^(VAE levels − 1): mel frames (and bins) per latent position.
    public let vaeScaleFactor: Int
    /// The UNet's `sample_size`.
    public let sampleSize: Int

    /// `options` apply to every component (e.g. `repackQuantized`, as `nextgpt audio` loads them).
    public init(_ model: ModelFile, pipeline: String = "audioldm", options: LoadOptions = LoadOptions()) throws {
        self.pipeline = pipeline
        self.model = model
        tokenizer = try RobertaTokenizer(metadata: model.metadata, prefix: "\(pipeline).tokenizer")
        textEncoder = model.container.tensors(of: "\(pipeline).text_encoder").isEmpty
            ? nil : try ClapTextModelWithProjection(model, component: "\(pipeline).text_encoder", options: options)
        unet = try UNet2DConditionModel(model, component: "\(pipeline).unet", options: options)
        vae = try AutoencoderKL(model, component: "\(pipeline).vae", options: options)
        vocoder = try SpeechT5HifiGan(model, component: "\(pipeline).vocoder", options: options)
        guard case .string(let text)? = model.metadata["\(pipeline).scheduler.config"] else {
            throw FormatError(model.container.file.path, "pipeline '\(pipeline)' has no \(pipeline).scheduler.config")
        }
        schedulerConfig = text
        vaeScaleFactor = 1 << (vae.config.blockOutChannels.count - 1)
        sampleSize = try DiffusersConfig.load(model, component: "\(pipeline).unet").int("sample_size", default: 128)
    }

    /// The vocoder's output rate in Hz.
    public var samplingRate: Int { vocoder.config.samplingRate }

    /// `vocoder_upsample_factor`: seconds per mel frame, `prod(upsample_rates) / sampling_rate`.
    public var vocoderUpsampleFactor: Double {
        Double(vocoder.config.upsampleRates.reduce(1, *)) / Double(vocoder.config.samplingRate)
    }

    /// diffusers' default `audio_length_in_s`.
    public var defaultAudioLength: Double { Double(sampleSize * vaeScaleFactor) * vocoderUpsampleFactor }

    /// The mel frames the pipeline generates for `seconds` (`int(len / factor)` rounded up to a
    /// multiple of the VAE factor) and the samples it keeps (`int(len · sampling_rate)`).
    public func frames(forSeconds seconds: Double) -> (melFrames: Int, samples: Int) {
        var height = Int(seconds / vocoderUpsampleFactor)
        if height % vaeScaleFactor != 0 { height = Int((Double(height) / Double(vaeScaleFactor)).rounded(.up)) * vaeScaleFactor }
        return (height, Int(seconds * Double(samplingRate)))
    }

    /// Runs the request; `onStep(done, total, stats)` after every denoising step (it may throw to stop). Returns the
    /// waveform [samples] at `samplingRate` (diffusers' `audios[0]`). Every component runs in `context`.
    public func generate(_ request: AudioLDMRequest, context: ExecutionContext,
                         onStep: (Int, Int, AudioLDMStats) throws -> Void = { _, _, _ in }) throws -> (waveform: Tensor, stats: AudioLDMStats) {
        let path = model.container.file.path
        let seconds = request.audioLengthInS ?? defaultAudioLength
        let (height, keptSamples) = frames(forSeconds: seconds)
        try checkInputs(request, seconds: seconds)
        var stats = AudioLDMStats()
        var start = Date()
        let promptEmbeds = try request.promptEmbeds.map { try checkEmbeds($0, "prompt_embeds") }
            ?? ClapTextModelWithProjection.normalized(encode(request.prompt, maxLength: tokenizer.modelMaxLength, context: context))
        var loop = try DenoisingLoop(schedulerConfig: schedulerConfig, schedulerName: request.scheduler, eta: request.eta,
                                     steps: request.steps, seed: request.seed, guidanceScale: request.guidanceScale, path: path)
        var conditioning = promptEmbeds
        if loop.guided {
            // diffusers tokenizes the negative to `max_length = prompt_embeds.shape[1]` (the embedding width).
            let negative = try request.negativePromptEmbeds.map { try checkEmbeds($0, "negative_prompt_embeds") }
                ?? ClapTextModelWithProjection.normalized(encode(request.negativePrompt, maxLength: promptEmbeds.shape[1], context: context))
            guard negative.shape == promptEmbeds.shape else {
                throw FormatError(path, "negative_prompt_embeds \(negative.shape) and prompt_embeds \(promptEmbeds.shape) differ")
            }
            conditioning = Shape.cat([negative, promptEmbeds], dim: 0)
        }
        stats.textEncodeSeconds = Date().timeIntervalSince(start)

        let latentShape = [1, unet.config.inChannels, height / vaeScaleFactor, vocoder.config.modelInDim / vaeScaleFactor]
        if let given = request.latents, given.shape != latentShape {
            throw FormatError(path, "latents \(given.shape) do not fit \(seconds) s: \(latentShape) expected")
        }
        var latents = loop.initialLatents(request.latents, shape: latentShape)
        do {
            // The UNet's Winograd kernels are kept for the steps and dropped before the VAE runs.
            // Its activations too: one arena for every step.
            let unetContext = context.keepingWinogradKernels()
            latents = try unetContext.withActivationArena("denoising", repeatingPasses: true) {
                try loop.run(latents, timesteps: loop.scheduler.timesteps, onStep: { done, total, seconds in
                    stats.stepSeconds.append(seconds)
                    try onStep(done, total, stats)
                }) { input, t in
                    stats.unetEvaluations += 1
                    return try unet(sample: input, timestep: [t], encoderHiddenStates: nil, classLabels: conditioning, context: unetContext)
                }
            }
        }

        if let profile = context.profile {
            FileHandle.standardError.write(Data(("denoising:\n" + profile.report() + "\nVAE decode and vocoder:\n").utf8))
        }
        start = Date()
        let mel = vae.decode(Elementwise.scale(latents, by: Float(1 / vae.config.scalingFactor)), context: context)
        stats.vaeDecodeSeconds = Date().timeIntervalSince(start)
        start = Date()
        // mel [1, 1, frames, bins] → squeeze(1) → vocoder → [1, samples], cut to the asked length
        let waveform = try vocoder(mel.reshaped([1, mel.shape[2], mel.shape[3]]), context: context)
        stats.vocoderSeconds = Date().timeIntervalSince(start)
        let kept = min(keptSamples, waveform.shape[1])
        return (Tensor(shape: [kept], values: Array(waveform.values.prefix(kept))), stats)
    }

    /// diffusers' `check_inputs` (for one prompt) and what the runtime needs beyond it.
    func checkInputs(_ request: AudioLDMRequest, seconds: Double) throws {
        let path = model.container.file.path
        let minimum = vocoderUpsampleFactor * Double(vaeScaleFactor)
        guard seconds >= minimum else {
            throw FormatError(path, "audio_length_in_s has to be a positive value greater than or equal to \(minimum), but is \(seconds)")
        }
        guard vocoder.config.modelInDim % vaeScaleFactor == 0 else {
            throw FormatError(path, "the vocoder's \(vocoder.config.modelInDim) mel bins are not divisible by the VAE scale factor \(vaeScaleFactor)")
        }
        guard request.steps > 0 else { throw FormatError(path, "steps must be at least 1") }
        if request.promptEmbeds != nil && !request.prompt.isEmpty {
            throw FormatError(path, "give either prompt or prompt_embeds, not both")
        }
        if request.negativePromptEmbeds != nil && !request.negativePrompt.isEmpty {
            throw FormatError(path, "give either negative_prompt or negative_prompt_embeds, not both")
        }
    }

    /// Given embeddings must be [1, P], P the UNet's class-embedding input width.
    func checkEmbeds(_ embeds: Tensor, _ name: String) throws -> Tensor {
        var width = textEncoder?.config.projectionDim
        if case .simpleProjection(let dim)? = unet.config.classEmbedding { width = dim }
        if case .projection(let dim)? = unet.config.classEmbedding { width = dim }
        guard embeds.rank == 2, embeds.shape[0] == 1, embeds.shape[1] > 0, width == nil || embeds.shape[1] == width else {
            throw FormatError(model.container.file.path, "\(name) has shape \(embeds.shape); expected [1, \(width.map(String.init) ?? "P")]")
        }
        return embeds
    }

    /// `text_encoder(tokenizer(text, padding="max_length", max_length=…, truncation=True)).text_embeds`: [1, P].
    func encode(_ text: String, maxLength: Int, context: ExecutionContext) throws -> Tensor {
        guard let textEncoder else {
            throw FormatError(model.container.file.path, "has no \(pipeline).text_encoder (converted with --drop-text-encoders): give prompt_embeds and negative_prompt_embeds")
        }
        let encoding = tokenizer(text, maxLength: maxLength)
        return try textEncoder([encoding.ids], attentionMask: [encoding.attentionMask], context: context).textEmbeds
    }
}

extension AudioLDMPipeline {
    /// Runs the request, reporting each denoising step to `progress` (elapsed: the steps' own
    /// time, so the rate and ETA leave out the text encoder); stops after the step at which
    /// `progress.isCancelled` turns true, with `CancellationError`.
    public func generate(_ request: AudioLDMRequest, context: ExecutionContext, progress: any ProgressReporter) throws
        -> (waveform: Tensor, stats: AudioLDMStats) {
        try generate(request, context: context) { done, total, stats in
            progress.report(ProgressUpdate(phase: "denoising", completed: done, total: total, unit: "step",
                                           elapsedSeconds: stats.stepSeconds.reduce(0, +)))
            try progress.checkCancellation()
        }
    }
}
