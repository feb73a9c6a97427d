import Foundation
import NextGPTAnyToAny
import NextGPTCore
import NextGPTDiffusion
import NextGPTImageBind
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTMedia
import NextGPTTokenizers

/// One any-to-any turn: the user's text and media files in, NExT-GPT's reply and the media its
/// signal tokens ask for out.
public struct NExTGPTRequest: Sendable {
    public var text: String
    public var images: [String] = []
    public var audios: [String] = []
    public var videos: [String] = []
    /// Earlier turns (question as the demo kept it, answer), for a chat.
    public var history: [(question: String, answer: String)] = []
    public var generation = NExTGPTGenerationOptions()
    /// `.everyTag` so that every file given is used (upstream's split drops a second tag to text).
    public var chunking = NExTGPTPrompt.Chunking.everyTag
    /// Modalities whose run is appended to a reply that has none (the tiny random system never
    /// writes one; a demo or a test can still drive the decoders through the model's own states).
    public var forcedOutputs: Set<SignalModality> = []
    /// The image decoder's settings: NExT-GPT's demo runs 50 steps at guidance 7.5 and 512².
    public var image = StableDiffusionRequest(prompt: "")
    /// The audio decoder's settings: NExT-GPT's demo runs 50 steps at guidance 7.5 for 9 s.
    public var audio = AudioLDMRequest(prompt: "")
    /// The video decoder's settings: NExT-GPT's demo runs 50 steps at guidance 7.5, 24 frames of
    /// 320 × 576, written at `videoFPS` 8.
    public var video = TextToVideoRequest(prompt: "")
    public var videoFPS = 8
    public var media = ImageBindSession.MediaOptions()

    public init(text: String) {
        self.text = text
        image.steps = 50
        image.guidanceScale = 7.5
        image.seed = 13  // NExT-GPT's base.yaml seed
        audio.steps = 50
        audio.guidanceScale = 7.5
        audio.audioLengthInS = 9
        audio.seed = 13
        (video.steps, video.guidanceScale, video.numFrames, video.height, video.width, video.seed) = (50, 7.5, 24, 320, 576, 13)
    }
}

/// Time and peak resident memory of one stage.
public struct StageReport: Sendable {
    public var name: String
    public var seconds: Double
    public var peakResidentBytes: Int?
}

public struct NExTGPTResult: Sendable {
    /// The text the LLM saw (the demo's turn text).
    public var prompt = ""
    public var reply = NExTGPTReply()
    /// The image decoder's outputs [1, 3, H, W] in about [−1, 1] (`VaeImageProcessor` makes
    /// pictures of them), one per image run.
    public var images: [Tensor] = []
    /// Waveforms [samples] at `audioSampleRate`, one per audio run.
    public var audios: [Tensor] = []
    public var audioSampleRate = 16000
    /// The video decoder's frames [F, H, W, 3] in [0, 1] (`VideoFrames` makes pictures of them), one per video run.
    public var videos: [Tensor] = []
    /// Each signal run's projector output, the decoder's conditioning ([1, 77, 768] for SD 1.5).
    public var conditioning: [SignalModality: Tensor] = [:]
    /// Runs whose decoder this runtime cannot run yet, or whose component the container lacks.
    public var skippedOutputs: [(modality: SignalModality, reason: String)] = []
    public var stages: [StageReport] = []
}

/// NExT-GPT's inference (`anyToImageVideoAudio.py` `generate`) from one container, stage after
/// stage: ImageBind on the media, the LLM with the delta's LoRA, then the decoder of each signal
/// run. Each stage's mapped pages and repacked copies are released before the next.
public final class NExTGPTSession: Sendable {
    public let path: String
    public let context: ExecutionContext

    public init(path: String, context: ExecutionContext) {
        self.path = path
        self.context = context
    }

    /// The question as the demo keeps it in the history: the media tags, then ` ` and the text.
    public static func questionText(_ request: NExTGPTRequest) -> String {
        var question = ""
        for (kind, paths) in [("Image", request.images), ("Audio", request.audios), ("Video", request.videos)] where !paths.isEmpty {
            question += paths.map { "<\(kind)>\($0)</\(kind)>" }.joined() + " "
        }
        return question + " " + request.text
    }

    /// The demo's turn text (`demo_app.py`): the history, `Human: `, one tag per kind holding
    /// every file of that kind (`<Image>a</Image><Image>b</Image>`: their features are summed), the text.
    public static func turnText(_ request: NExTGPTRequest) -> String {
        var prompt = ""
        for (index, turn) in request.history.enumerated() {
            prompt += (index == 0 ? "### Human: " : " Human: ") + "\(turn.question)\n### Assistant: \(turn.answer)\n###"
        }
        prompt += request.history.isEmpty ? "### Human: " : " Human: "
        return prompt + questionText(request)
    }

    /// `progress` sees the decoders' steps; when it is cancelled the run stops at the next token,
    /// denoising step or stage with `CancellationError`.
    public func run(_ request: NExTGPTRequest, progress: ProgressReporter? = nil,
                    onText: (String) -> Void = { _ in }) throws -> NExTGPTResult {
        var result = NExTGPTResult()
        var stages: [StageReport] = []
        result.prompt = Self.turnText(request)
        let segments = NExTGPTPrompt.segments(result.prompt, chunking: request.chunking)

        // 1. ImageBind on every tagged file, in tag order.
        var media: Tensor?
        if segments.contains(where: { if case .media = $0 { return true } else { return false } }) {
            media = try stage("imagebind", into: &stages) {
                let file = try ModelFile(path: path)
                defer { file.release(component: "imagebind") }
                let session = try ImageBindSession(file: file, context: context)
                var rows: [Tensor] = []
                for case .media(let kind, let paths) in segments {
                    switch kind {
                    case .image: rows.append(try session.embed(images: paths, texts: []))
                    case .audio: rows.append(try session.embed(images: [], audios: paths, texts: [], audio: request.media))
                    case .video: rows.append(try session.embed(images: [], videos: paths, texts: [], audio: request.media, progress: progress))
                    }
                }
                return Shape.cat(rows, dim: 0)
            }
        }

        try progress?.checkCancellation()
        let isCancelled = { progress?.isCancelled ?? false }

        // 2. The LLM: prompt assembly, generation, signal runs, output projections.
        var conditioning: [SignalModality: Tensor] = [:]
        try stage("llm", into: &stages) {
            var options = LlamaSession.Options(path: path)
            options.repack = true
            let llm = try LlamaSession(options, context: context)
            defer { llm.file.release(component: "vicuna"); llm.file.release(component: "nextgpt") }
            let inputs = try NExTGPTInputs(tokenizer: llm.tokenizer, projection: try NExTGPTInputProjection(llm.file))
            let generator = try NExTGPTGenerator(model: llm.model, tokenizer: llm.tokenizer)
            var generation = request.generation
            var reply = generator.generate(try inputs.inputs(segments, media: media, context: context), options: generation,
                                           context: context, isCancelled: isCancelled, onText: onText)
            try progress?.checkCancellation()
            let missing = SignalModality.allCases.filter { request.forcedOutputs.contains($0) && reply.runs[$0] == nil }
            if !missing.isEmpty {
                // Continue the same reply with the missing runs fed as its next tokens.
                generation.replyPrefix = reply.ids + missing.flatMap { generator.signals.runs[$0]! }
                generation.maxNewTokens = generation.replyPrefix.count
                let forced = generator.generate(try inputs.inputs(segments, media: media, context: context), options: generation,
                                                context: context, isCancelled: isCancelled)
                try progress?.checkCancellation()
                reply.runs = forced.runs
                reply.ids = forced.ids
            }
            result.reply = reply
            for (modality, run) in reply.runs {
                let projector = try TextFcLayer(llm.file, modality: modality)
                let h = run.hidden.shape[1]
                conditioning[modality] = try projector(run.hidden.reshaped([1, run.hidden.shape[0], h]),
                                                       inputEmbs: run.inputEmbeds.reshaped([1, run.inputEmbeds.shape[0], h]), context: context)
            }
        }

        result.conditioning = conditioning
        try progress?.checkCancellation()

        // 3. The decoders (a container may hold only some of them: the others' runs are skipped).
        let components = try ModelFile(path: path).container.components
        if conditioning[.image] != nil, !components.contains("sd15.unet") {
            result.skippedOutputs.append((.image, "the container has no Stable Diffusion pipeline (convert with --sd15)"))
        } else if let embeds = conditioning[.image] {
            try stage("image", into: &stages) {
                let file = try ModelFile(path: path)
                defer { for part in ["text_encoder", "unet", "vae"] { file.release(component: "sd15.\(part)") } }
                let pipeline = try StableDiffusionPipeline(file, pipeline: "sd15", options: LoadOptions(repackQuantized: true, context: context))
                var image = request.image
                image.promptEmbeds = Self.paddedTo77(embeds)
                // The constant convert stored, else the text encoder computes it (the same numbers).
                image.negativePromptEmbeds = try image.negativePromptEmbeds ?? DecoderNegatives.stored(file, pipeline: "sd15")
                let decoded = try pipeline.generate(image, context: context, progress: progress ?? SilentProgress()).decoded
                result.images.append(decoded)
            }
        }
        if conditioning[.audio] != nil, !components.contains("audioldm.unet") {
            result.skippedOutputs.append((.audio, "the container has no AudioLDM pipeline (convert with --audioldm)"))
        } else if let embeds = conditioning[.audio] {
            try stage("audio", into: &stages) {
                let file = try ModelFile(path: path)
                defer { for part in ["text_encoder", "unet", "vae", "vocoder"] { file.release(component: "audioldm.\(part)") } }
                let pipeline = try AudioLDMPipeline(file, pipeline: "audioldm", options: LoadOptions(repackQuantized: true, context: context))
                var audio = request.audio
                // `prompt_embeds=gen_emb.view(1, 512)`: given as is, never normalized by the pipeline.
                audio.promptEmbeds = embeds.reshaped([1, embeds.count])
                audio.negativePromptEmbeds = try audio.negativePromptEmbeds ?? DecoderNegatives.stored(file, pipeline: "audioldm")
                result.audios.append(try pipeline.generate(audio, context: context, progress: progress ?? SilentProgress()).waveform)
                result.audioSampleRate = pipeline.samplingRate
            }
        }
        if let embeds = conditioning[.video] {
            let file = try ModelFile(path: path)
            if !file.container.components.contains("zeroscope.unet") {
                result.skippedOutputs.append((.video, "the container has no ZeroScope pipeline (convert with --zeroscope)"))
            } else {
                try stage("video", into: &stages) {
                    defer { for part in ["text_encoder", "unet", "vae"] { file.release(component: "zeroscope.\(part)") } }
                    let pipeline = try TextToVideoSDPipeline(file, pipeline: "zeroscope", options: LoadOptions(repackQuantized: true, context: context))
                    var video = request.video
                    video.promptEmbeds = embeds
                    // The constant convert stored, else the text encoder computes it (the same numbers).
                    video.negativePromptEmbeds = try video.negativePromptEmbeds ?? DecoderNegatives.stored(file, pipeline: "zeroscope")
                    result.videos.append(try pipeline.generate(video, context: context, progress: progress ?? SilentProgress()).frames)
                }
            }
        }
        result.stages = stages
        return result
    }

    /// Upstream zero-pads the image conditioning to 77 tokens when the projector gives fewer.
    static func paddedTo77(_ embeds: Tensor) -> Tensor {
        let (tokens, width) = (embeds.shape[1], embeds.shape[2])
        guard tokens < 77 else { return embeds }
        return Shape.cat([embeds, Tensor(shape: [1, 77 - tokens, width], values: [Float](repeating: 0, count: (77 - tokens) * width))], dim: 1)
    }

    private func stage<T>(_ name: String, into stages: inout [StageReport], _ body: () throws -> T) throws -> T {
        System.resetPeakResident()
        let start = Date()
        let value = try body()
        stages.append(StageReport(name: name, seconds: Date().timeIntervalSince(start), peakResidentBytes: System.peakResidentBytes()))
        return value
    }
}

/// A reporter that drops every update.
struct SilentProgress: ProgressReporter {
    func report(_ update: ProgressUpdate) {}
}
