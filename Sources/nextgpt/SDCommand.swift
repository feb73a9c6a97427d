import ArgumentParser
import Foundation
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTMedia

struct SDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sd",
        abstract: "Render an image with the container's Stable Diffusion pipeline (text-to-image or image-to-image).",
        discussion: """
        Runs diffusers' StableDiffusionPipeline on the CPU: CLIP text encoder, UNet with
        classifier-free guidance (2 UNet evaluations per step when --cfg > 1), VAE decode. With
        the same --seed the initial latents are torch.randn's on the CPU, so a run can be
        compared with diffusers. The PNG carries prompt, seed, steps, cfg and scheduler as text chunks.

        Examples:
          nextgpt sd -m sd15-q8_0.gguf -p "a red fox in the snow, photograph" -o fox.png
          nextgpt sd -m sd15-q8_0.gguf -p "a castle" --negative "blurry" --steps 25 --scheduler euler-a --seed 42 -o castle.png
          nextgpt sd -m sd15-q8_0.gguf -p "an oil painting" --init photo.jpg --strength 0.6 -o painting.png
          nextgpt sd -m nextgpt-q4_0.gguf -p "a cat" -W 256 -H 256 --vae-tiling --threads 2 -o cat.png
        """)

    @Option(name: .shortAndLong, help: "Container (.gguf) holding the pipeline.")
    var model: String

    @Option(help: "Pipeline name inside the container.")
    var pipeline = "sd15"

    @Option(name: .shortAndLong, help: "Prompt.")
    var prompt: String

    @Option(help: "Negative prompt (what to steer away from).")
    var negative = ""

    @Option(help: "Denoising steps.")
    var steps = 20

    @Option(help: "Classifier-free guidance scale (≤ 1 disables guidance: one UNet evaluation per step).")
    var cfg = 7.5

    @Option(help: "Scheduler: pndm, ddim, euler, euler-a (default: the pipeline's own).")
    var scheduler: String?

    @Option(help: "Seed of the initial latents (torch.Generator(\"cpu\").manual_seed).")
    var seed: UInt64 = 0

    @Option(name: .customShort("W"), help: "Width in pixels, a multiple of 8 (default: the model's, 512 for SD 1.5).")
    var width: Int?

    @Option(name: .customShort("H"), help: "Height in pixels, a multiple of 8.")
    var height: Int?

    @Option(name: .customLong("init"), help: "Start from this image (PNG or JPEG; img2img). Its size is the output size.")
    var initImage: String?

    @Option(help: "img2img: share of the schedule run over the init image (0–1).")
    var strength = 0.8

    @Option(help: "DDIM eta.")
    var eta = 0.0

    @Option(help: "Use the text encoder's output this many layers before the last.")
    var clipSkip = 0

    @Flag(help: "Decode the latents in overlapping tiles (less memory at large sizes).")
    var vaeTiling = false

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Keep Q8_0/Q4_0 weights mapped instead of copying them into the integer kernels' interleaved layout (slower; large batches then use f32 activations).")
    var noRepack = false

    @Option(help: "Write timings (s/step, text encode, VAE decode), the run's peak RSS and the VAE decode's own as JSON to this file.")
    var statsJson: String?

    @Option(name: .shortAndLong, help: "Output PNG.")
    var output: String

    @OptionGroup var checksums: CheckOption

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
        if let width, width <= 0 || width % 8 != 0 { throw ValidationError("-W must be a positive multiple of 8") }
        if let height, height <= 0 || height % 8 != 0 { throw ValidationError("-H must be a positive multiple of 8") }
        if !(0...1).contains(strength) { throw ValidationError("--strength must be between 0 and 1") }
    }

    func run() throws {
        try checksums.verify(model) { _ in [pipeline] }
        let context = ExecutionContext.command(threads: threads)
        let file = try ModelFile(path: model)
        let sd = try StableDiffusionPipeline(file, pipeline: pipeline, options: LoadOptions(repackQuantized: !noRepack, context: context))
        var request = StableDiffusionRequest(
            prompt: prompt, negativePrompt: negative, steps: steps, guidanceScale: cfg, scheduler: scheduler, height: height,
            width: width, seed: seed, eta: eta, clipSkip: clipSkip, strength: strength, vaeTiling: vaeTiling)
        if let initImage {
            let image = try ImageFile.read(path: initImage)
            guard (width ?? image.width) == image.width, (height ?? image.height) == image.height else {
                throw ValidationError("\(initImage) is \(image.width)×\(image.height): omit -W/-H or resize the image (no resampling here)")
            }
            guard image.width % 8 == 0, image.height % 8 == 0 else {
                throw ValidationError("\(initImage) is \(image.width)×\(image.height): both sides must be multiples of 8")
            }
            request.initImage = try VaeImageProcessor.tensor(from: [image])
            request.width = image.width
            request.height = image.height
        }
        let started = Date()
        let tracker = DecodePeakTracker(forwarding: ProgressBar())
        let (decoded, stats) = try sd.generate(request, context: context, progress: tracker)
        let decodePeak = tracker.decodePeakBytes()
        let image = try VaeImageProcessor.images(from: decoded)[0]
        let (w, h) = (image.width, image.height)
        try PNGImage.write(image, to: output, text: [
            ("prompt", prompt), ("negative_prompt", negative), ("seed", String(seed)), ("steps", String(steps)),
            ("cfg", String(cfg)), ("scheduler", scheduler ?? "default"), ("size", "\(w)x\(h)"),
            ("model", (model as NSString).lastPathComponent), ("software", "nextgpt sd"),
        ])
        let memory = MemoryReport.current()
        let steps = stats.stepSeconds
        let mean = steps.isEmpty ? 0 : steps.reduce(0, +) / Double(steps.count)
        FileHandle.standardError.write(Data(String(
            format: "%@: %d×%d, %d denoising iterations %.2f s each (%d UNet evaluations), text %.2f s, VAE decode %.2f s%@, total %.1f s; %@\n",
            output, w, h, steps.count, mean, stats.unetEvaluations, stats.textEncodeSeconds, stats.vaeDecodeSeconds,
            decodePeak.map { String(format: " (peak RSS %.1f MB)", Double($0) / 1e6) } ?? "",
            Date().timeIntervalSince(started), closingTail(context, memory)).utf8))
        if let profile = context.profile { FileHandle.standardError.write(Data((profile.report() + "\n").utf8)) }
        if let statsJson {
            let record: [String: Any] = [
                "step_seconds": steps, "text_encode_seconds": stats.textEncodeSeconds, "vae_encode_seconds": stats.vaeEncodeSeconds,
                "vae_decode_seconds": stats.vaeDecodeSeconds, "unet_evaluations": stats.unetEvaluations,
                "peak_rss_bytes": memory.peakBytes, "vae_decode_peak_rss_bytes": decodePeak ?? -1, "width": w, "height": h, "total_seconds": Date().timeIntervalSince(started),
            ]
            try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]).write(to: URL(fileURLWithPath: statsJson))
        }
    }
}
