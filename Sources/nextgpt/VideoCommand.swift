import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTMedia

struct VideoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "video",
        abstract: "Render a video with the container's ZeroScope pipeline (text-to-video).",
        discussion: """
        Runs diffusers' TextToVideoSDPipeline on the CPU: CLIP-H text encoder, UNet3D with
        classifier-free guidance (2 videos per UNet evaluation when --cfg > 1), the VAE frame by
        frame. With the same --seed the initial latents are torch.randn's on the CPU, so a run can
        be compared with diffusers. The MP4 is H.264 (yuv420p) at --fps (NExT-GPT writes 8).

        Examples:
          nextgpt video -m zeroscope-q8_0.gguf -p "a panda playing the guitar on a beach" -o panda.mp4
          nextgpt video -m nextgpt-q4_0.gguf -p "a rocket launch" --frames 16 -W 448 -H 256 --steps 30 --seed 7 -o rocket.mp4
          nextgpt video -m zeroscope-q8_0.gguf -p "waves at sunset" --gif -o waves.gif
          nextgpt video -m zeroscope-q8_0.gguf -p "a cat" --frames-dir cat-frames/ -o cat.mp4 --threads 2
        """)

    @Option(name: .shortAndLong, help: "Container (.gguf) holding the pipeline.")
    var model: String

    @Option(help: "Pipeline name inside the container.")
    var pipeline = "zeroscope"

    @Option(name: .shortAndLong, help: "Prompt.")
    var prompt: String

    @Option(help: "Negative prompt (what to steer away from).")
    var negative = ""

    @Option(help: "Denoising steps.")
    var steps = 40

    @Option(help: "Classifier-free guidance scale (≤ 1 disables guidance: one UNet evaluation per step).")
    var cfg = 7.5

    @Option(help: "Frames to generate.")
    var frames = 24

    @Option(name: .customShort("W"), help: "Width in pixels, a multiple of 8.")
    var width = 576

    @Option(name: .customShort("H"), help: "Height in pixels, a multiple of 8.")
    var height = 320

    @Option(help: "Frames per second of the written video.")
    var fps = 8

    @Option(help: "Seed of the initial latents (torch.Generator(\"cpu\").manual_seed).")
    var seed: UInt64 = 0

    @Option(help: "Scheduler: pndm, ddim, euler, euler-a (default: the pipeline's own, DDIM for ZeroScope).")
    var scheduler: String?

    @Option(help: "DDIM eta.")
    var eta = 0.0

    @Option(help: "Frames the VAE decodes at once (more: a little faster, more memory).")
    var decodeChunk = 1

    @Flag(help: "Decode each frame in overlapping tiles (less memory at large sizes).")
    var vaeTiling = false

    @Option(help: "Guidance's two halves as two UNet calls (half the activation memory, same values): on, off or auto (on past 8 frames at 320×576).")
    var splitGuidance: SplitGuidance = .auto

    @Flag(help: "Write an animated GIF (one 256-colour palette; frame delays in whole centiseconds) instead of an MP4.")
    var gif = false

    @Option(help: "Also write every frame as a PNG into this directory.")
    var framesDir: String?

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Keep Q8_0/Q4_0 weights mapped instead of copying them into the integer kernels' interleaved layout.")
    var noRepack = false

    @Option(help: "Write timings (s/step, text encode, VAE decode, peak RSS) as JSON to this file.")
    var statsJson: String?

    @Option(name: .shortAndLong, help: "Output video (.mp4, or .gif with --gif).")
    var output: String

    @OptionGroup var checksums: CheckOption

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
        if frames < 1 { throw ValidationError("--frames must be at least 1") }
        if width <= 0 || width % 8 != 0 { throw ValidationError("-W must be a positive multiple of 8") }
        if height <= 0 || height % 8 != 0 { throw ValidationError("-H must be a positive multiple of 8") }
        if fps < 1 { throw ValidationError("--fps must be at least 1") }
        if decodeChunk < 1 { throw ValidationError("--decode-chunk must be at least 1") }
    }

    func run() throws {
        try checksums.verify(model) { _ in [pipeline] }
        let context = ExecutionContext.command(threads: threads)
        let file = try ModelFile(path: model)
        let video = try TextToVideoSDPipeline(file, pipeline: pipeline, options: LoadOptions(repackQuantized: !noRepack, context: context))
        var request = TextToVideoRequest(
            prompt: prompt, negativePrompt: negative, steps: steps, guidanceScale: cfg, numFrames: frames, scheduler: scheduler,
            height: height, width: width, seed: seed, eta: eta, decodeChunkSize: decodeChunk, vaeTiling: vaeTiling)
        request.splitGuidanceBatch = splitGuidance.value
        let started = Date()
        let (tensor, stats) = try video.generate(request, context: context, progress: PhaseProgress())
        let images = try VideoFrames.images(from: tensor)
        let cleanup = InterruptCleanup.install(removing: output)
        let written = try VideoWriter.write(images, to: output, fps: fps, container: gif ? .gif : .mp4)
        cleanup.remove()
        if let notice = written.notice { FileHandle.standardError.write(Data("note: \(notice)\n".utf8)) }
        if let framesDir { try VideoWriter.writeFrames(images, toDirectory: framesDir) }
        let memory = MemoryReport.current()
        let steps = stats.stepSeconds
        let mean = steps.isEmpty ? 0 : steps.reduce(0, +) / Double(steps.count)
        FileHandle.standardError.write(Data(String(
            format: "%@: %d frames %d×%d at %d fps (%@), %d denoising iterations %.2f s each (%d UNet evaluations), text %.2f s, VAE decode %.2f s (%.2f s/frame), total %.1f s; %@\n",
            output, images.count, width, height, fps, written.encoder, steps.count, mean, stats.unetEvaluations,
            stats.textEncodeSeconds, stats.vaeDecodeSeconds, stats.vaeDecodeSeconds / Double(max(images.count, 1)),
            Date().timeIntervalSince(started), closingTail(context, memory)).utf8))
        if let profile = context.profile { FileHandle.standardError.write(Data((profile.report() + "\n").utf8)) }
        if let statsJson {
            let record: [String: Any] = [
                "step_seconds": steps, "text_encode_seconds": stats.textEncodeSeconds, "vae_decode_seconds": stats.vaeDecodeSeconds,
                "unet_evaluations": stats.unetEvaluations, "peak_rss_bytes": memory.peakBytes, "frames": images.count,
                "width": width, "height": height, "total_seconds": Date().timeIntervalSince(started),
            ]
            try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]).write(to: URL(fileURLWithPath: statsJson))
        }
    }
}

/// One progress line per phase (denoising steps, then decoded frames), each with its own rate and ETA.
final class PhaseProgress: ProgressReporter {
    private var bars: [String: ProgressBar] = [:]

    func report(_ progress: ProgressUpdate) {
        let bar = bars[progress.phase] ?? ProgressBar(label: progress.phase)
        bars[progress.phase] = bar
        bar.report(progress)
    }
}

enum SplitGuidance: String, ExpressibleByArgument, CaseIterable {
    case on, off, auto
    var value: Bool? { self == .auto ? nil : self == .on }
}
