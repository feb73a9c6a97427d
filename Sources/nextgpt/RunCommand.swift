import ArgumentParser
import Foundation
import NextGPTAnyToAny
import NextGPTCore
import NextGPTDiffusion
import NextGPTFormats
import NextGPTImageBind
import NextGPTKernels
import NextGPTLlama
import NextGPTMedia
import NextGPTSessions
import NextGPTTokenizers

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "NExT-GPT any-to-any: text and media in, the reply and the media it asks for out.",
        discussion: """
        Runs NExT-GPT's inference from one container, stage after stage (each stage's memory is
        released before the next): ImageBind on the given files, the language model with the delta's
        LoRA (NExT-GPT's demo sampling: top_p 0.01, temperature 1, top_k 50; stop at ### or EOS),
        then Stable Diffusion for an [IMG0..3] run, AudioLDM for an [AUD0..7] run and ZeroScope for a
        [VID0..23] run. The reply streams to stdout; OUTDIR receives reply.txt, image-N.png,
        audio-N.wav, video-N.mp4 and manifest.json (the stages' time and peak memory included).

        Examples:
          nextgpt run -m nextgpt-q4_0.gguf --image cat.jpg -p "What is in this picture?"
          nextgpt run -m nextgpt-q4_0.gguf -p "Show me a cat in the snow" -o out/
          nextgpt run -m tiny.gguf --image a.png --audio b.wav --video c.mp4 -p "describe" --force-output image
          nextgpt run -m nextgpt-q4_0.gguf -p "Make a video of waves" --video-frames 16 --video-steps 30 -o out/
          nextgpt run -m nextgpt-q4_0.gguf --check -p "Draw a cat"   # refuse a damaged component first
        """)

    @Option(name: .shortAndLong, help: ArgumentHelp("The NExT-GPT container.", valueName: "file.gguf"))
    var model: String

    @Option(name: .shortAndLong, help: ArgumentHelp("The user's text.", valueName: "text"))
    var prompt: String

    @Option(name: .customLong("image"), help: ArgumentHelp("Image file; repeatable.", valueName: "path"))
    var images: [String] = []

    @Option(name: .customLong("audio"), help: ArgumentHelp("Audio file; repeatable.", valueName: "path"))
    var audios: [String] = []

    @Option(name: .customLong("video"), help: ArgumentHelp("Video file; repeatable.", valueName: "path"))
    var videos: [String] = []

    @Option(name: .shortAndLong, help: ArgumentHelp("Folder for the outputs (created).", valueName: "dir"))
    var output = "nextgpt-out"

    @Option(name: .customLong("max-new-tokens"), help: "Longest reply, in tokens (the demo's 246).")
    var maxNewTokens = 246

    @Option(help: "Sampling seed.")
    var seed: UInt64 = 0

    @Option(name: .customLong("partial-runs"), help: "A signal-token run the model starts but does not finish: force (complete it) or skip.")
    var partialRuns = PartialRunPolicy.force.rawValue

    @Option(name: .customLong("force-output"), help: ArgumentHelp("Append this modality's signal run when the reply has none (image, video, audio); repeatable.", valueName: "modality"))
    var forcedOutputs: [String] = []

    @Option(help: "Denoising steps of the image decoder.")
    var steps = 50

    @Option(help: "Guidance scale of the image decoder.")
    var cfg = 7.5

    @Option(name: [.customShort("W"), .customLong("width")], help: "Image width (default: the UNet's, 512 for SD 1.5).")
    var width: Int?

    @Option(name: [.customShort("H"), .customLong("height")], help: "Image height.")
    var height: Int?

    @Option(name: .customLong("image-seed"), help: "Seed of the decoders' latents (NExT-GPT's 13).")
    var imageSeed: UInt64 = 13

    @Option(name: .customLong("audio-steps"), help: "Denoising steps of the audio decoder.")
    var audioSteps = 50

    @Option(name: .customLong("audio-seconds"), help: "Length of generated audio (NExT-GPT's demo: 9 s).")
    var audioSeconds = 9.0
    @Option(name: .customLong("video-steps"), help: "Denoising steps of the video decoder (NExT-GPT's 50).")
    var videoSteps = 50

    @Option(name: .customLong("video-frames"), help: "Frames of the video decoder (NExT-GPT's 24).")
    var videoFrames = 24

    @Option(name: .customLong("video-width"), help: "Video width (NExT-GPT's 576).")
    var videoWidth = 576

    @Option(name: .customLong("video-height"), help: "Video height (NExT-GPT's 320).")
    var videoHeight = 320

    @Option(help: "Frames per second of video-N.mp4 (NExT-GPT's 8).")
    var fps = 8

    @Flag(help: "Print the manifest as JSON on stdout instead of streaming the reply.")
    var json = false

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp("How the KV cache stores past keys and values: f32, or f16 (half the bytes a decoded token reads; llama.cpp's default).", valueName: "f32|f16"))
    var cacheType = LlamaCache.defaultType

    @OptionGroup var checksums: CheckOption

    func validate() throws {
        guard PartialRunPolicy(rawValue: partialRuns) != nil else { throw ValidationError("--partial-runs must be force or skip") }
        for name in forcedOutputs where SignalModality(rawValue: name) == nil {
            throw ValidationError("--force-output takes image, video or audio, not \(name)")
        }
        guard maxNewTokens > 0, steps > 0 else { throw ValidationError("--max-new-tokens and --steps must be positive") }
        guard videoSteps > 0, videoFrames > 0, fps > 0 else { throw ValidationError("--video-steps, --video-frames and --fps must be positive") }
        guard videoWidth > 0, videoWidth % 8 == 0, videoHeight > 0, videoHeight % 8 == 0 else {
            throw ValidationError("--video-width and --video-height must be positive multiples of 8")
        }
    }

    func run() throws {
        try checksums.verify(model, used: CheckOption.anyToAny(media: !(images.isEmpty && audios.isEmpty && videos.isEmpty)))
        var request = NExTGPTRequest(text: prompt)
        request.images = images
        request.audios = audios
        request.videos = videos
        request.generation.maxNewTokens = maxNewTokens
        request.generation.sampling.seed = seed
        request.generation.cacheType = cacheType
        request.generation.partialRuns = PartialRunPolicy(rawValue: partialRuns)!
        request.forcedOutputs = Set(forcedOutputs.compactMap(SignalModality.init(rawValue:)))
        request.image.steps = steps
        request.image.guidanceScale = cfg
        request.image.width = width
        request.image.height = height
        request.image.seed = imageSeed
        request.audio.steps = audioSteps
        request.audio.audioLengthInS = audioSeconds
        request.audio.seed = imageSeed
        (request.video.steps, request.video.numFrames, request.video.width, request.video.height) = (videoSteps, videoFrames, videoWidth, videoHeight)
        request.videoFPS = fps
        let session = NExTGPTSession(path: model, context: .command(threads: threads))
        let result: NExTGPTResult
        do {
            result = try session.run(request, progress: ProgressBar()) { piece in
                if !json { print(piece, terminator: ""); fflush(nil) }
            }
        } catch let error as CustomStringConvertible where error is Error {
            throw Failure(error.description)
        }
        if !json { print("") }

        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try Data(result.reply.text.utf8).write(to: URL(fileURLWithPath: "\(output)/reply.txt"))
        var files: [String] = ["reply.txt"]
        for (index, image) in result.images.enumerated() {
            let name = "image-\(index).png"
            try PNGImage.write(try VaeImageProcessor.images(from: image)[0], to: "\(output)/\(name)",
                               text: [("prompt", prompt), ("seed", String(imageSeed)), ("steps", String(steps)), ("software", "nextgpt run")])
            files.append(name)
        }
        for (index, waveform) in result.audios.enumerated() {
            let name = "audio-\(index).wav"
            try WAVWriter.write(waveform.values, sampleRate: result.audioSampleRate,
                                metadata: WAVWriter.Metadata(title: prompt, comment: "seed: \(imageSeed); steps: \(audioSteps)", software: "nextgpt run"),
                                to: "\(output)/\(name)")
            files.append(name)
        }
        for (index, frames) in result.videos.enumerated() {
            let name = "video-\(index).mp4"
            let written = try VideoWriter.write(try VideoFrames.images(from: frames), to: "\(output)/\(name)", fps: request.videoFPS)
            if let notice = written.notice { FileHandle.standardError.write(Data("note: \(notice)\n".utf8)) }
            files.append(name)
        }
        let manifest: [String: Any] = [
            "prompt": result.prompt, "reply": result.reply.text, "ids": result.reply.ids,
            "stop": String(describing: result.reply.reason), "forced_tokens": result.reply.forcedTokens,
            "signal_runs": result.reply.runs.keys.map(\.rawValue).sorted(),
            "abandoned_runs": result.reply.abandonedRuns.map(\.rawValue),
            "files": files,
            "skipped": result.skippedOutputs.map { ["modality": $0.modality.rawValue, "reason": $0.reason] },
            "stages": result.stages.map { ["stage": $0.name, "seconds": $0.seconds, "peak_rss_bytes": $0.peakResidentBytes ?? -1] },
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .prettyPrinted])
        try data.write(to: URL(fileURLWithPath: "\(output)/manifest.json"))
        if json { print(String(decoding: data, as: UTF8.self)) }
        for skipped in result.skippedOutputs {
            FileHandle.standardError.write(Data("\(skipped.modality.rawValue) output skipped: \(skipped.reason)\n".utf8))
        }
        for stage in result.stages {
            let peak = stage.peakResidentBytes.map { String(format: "%.2f GB", Double($0) / 1e9) } ?? "?"
            FileHandle.standardError.write(Data(String(format: "stage %@: %.2f s, peak RSS %@, kernels %@\n", stage.name, stage.seconds, peak, session.context.kernelLevel.description).utf8))
        }
        FileHandle.standardError.write(Data("wrote \(files.map { "\(output)/\($0)" }.joined(separator: ", ")), \(output)/manifest.json\n".utf8))
    }
}
