import ArgumentParser
import Foundation
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTMedia

struct AudioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audio",
        abstract: "Generate a sound with the container's AudioLDM pipeline (text-to-audio) and write it as WAV.",
        discussion: """
        Runs diffusers' AudioLDMPipeline on the CPU: CLAP text encoder, UNet conditioned on the
        normalised text embedding (2 UNet evaluations per step when --cfg > 1), VAE decode of the
        mel spectrogram, HiFi-GAN vocoder, cut to --seconds. With the same --seed the initial
        latents are torch.randn's on the CPU, so a run can be compared with diffusers. The WAV
        carries the prompt as its title and seed, steps, cfg and scheduler as its comment.

        Examples:
          nextgpt audio -m audioldm-q8_0.gguf -p "a dog barking in the distance" -o dog.wav
          nextgpt audio -m audioldm-q8_0.gguf -p "rain on a tin roof" --seconds 9 --steps 50 --seed 42 -o rain.wav
          nextgpt audio -m nextgpt-q4_0.gguf -p "church bells" --negative "low quality" --scheduler euler --format float -o bells.wav
        """)

    enum SampleFormat: String, ExpressibleByArgument, CaseIterable {
        case pcm16, float
    }

    @Option(name: .shortAndLong, help: "Container (.gguf) holding the pipeline.")
    var model: String

    @Option(help: "Pipeline name inside the container.")
    var pipeline = "audioldm"

    @Option(name: .shortAndLong, help: "Prompt.")
    var prompt: String

    @Option(help: "Negative prompt (what to steer away from).")
    var negative = ""

    @Option(help: "Denoising steps.")
    var steps = 50

    @Option(help: "Classifier-free guidance scale (≤ 1 disables guidance: one UNet evaluation per step).")
    var cfg = 2.5

    @Option(help: "Length in seconds (generated up to the VAE's frame multiple, then cut; default 5).")
    var seconds = 5.0

    @Option(help: "Scheduler: pndm, ddim, euler, euler-a (default: the pipeline's own, DDIM).")
    var scheduler: String?

    @Option(help: "Seed of the initial latents (torch.Generator(\"cpu\").manual_seed).")
    var seed: UInt64 = 0

    @Option(help: "DDIM eta.")
    var eta = 0.0

    @Option(help: "WAV samples: pcm16 (16-bit PCM) or float (32-bit float, NExT-GPT's output).")
    var format: SampleFormat = .pcm16

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Keep Q8_0/Q4_0 weights mapped instead of copying them into the integer kernels' interleaved layout (slower).")
    var noRepack = false

    @Option(help: "Write timings (s/step, text encode, VAE decode, vocoder, peak RSS) as JSON to this file.")
    var statsJson: String?

    @Option(name: .shortAndLong, help: "Output WAV.")
    var output: String

    @OptionGroup var checksums: CheckOption

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
        if !(seconds > 0) || !seconds.isFinite { throw ValidationError("--seconds must be a positive number") }
    }

    func run() throws {
        try checksums.verify(model) { _ in [pipeline] }
        let context = ExecutionContext.command(threads: threads)
        let file = try ModelFile(path: model)
        let audioldm = try AudioLDMPipeline(file, pipeline: pipeline, options: LoadOptions(repackQuantized: !noRepack, context: context))
        let request = AudioLDMRequest(prompt: prompt, negativePrompt: negative, steps: steps, guidanceScale: cfg,
                                      audioLengthInS: seconds, scheduler: scheduler, seed: seed, eta: eta)
        let started = Date()
        let (waveform, stats) = try audioldm.generate(request, context: context, progress: ProgressBar())
        let comment = "seed: \(seed); steps: \(steps); cfg: \(cfg); scheduler: \(scheduler ?? "default"); seconds: \(seconds)"
            + (negative.isEmpty ? "" : "; negative_prompt: \(negative)")
        try WAVWriter.write(waveform.values, sampleRate: audioldm.samplingRate, format: format == .pcm16 ? .pcm16 : .float32,
                            metadata: WAVWriter.Metadata(title: prompt, comment: comment, software: "nextgpt audio"), to: output)
        let memory = MemoryReport.current()
        let stepTimes = stats.stepSeconds
        let mean = stepTimes.isEmpty ? 0 : stepTimes.reduce(0, +) / Double(stepTimes.count)
        FileHandle.standardError.write(Data(String(
            format: "%@: %.2f s at %d Hz, %d denoising iterations %.2f s each (%d UNet evaluations), text %.2f s, VAE decode %.2f s, vocoder %.2f s, total %.1f s; %@\n",
            output, Double(waveform.count) / Double(audioldm.samplingRate), audioldm.samplingRate, stepTimes.count, mean,
            stats.unetEvaluations, stats.textEncodeSeconds, stats.vaeDecodeSeconds, stats.vocoderSeconds,
            Date().timeIntervalSince(started), closingTail(context, memory)).utf8))
        if let profile = context.profile { FileHandle.standardError.write(Data((profile.report() + "\n").utf8)) }
        if let statsJson {
            let record: [String: Any] = [
                "step_seconds": stepTimes, "text_encode_seconds": stats.textEncodeSeconds, "vae_decode_seconds": stats.vaeDecodeSeconds,
                "vocoder_seconds": stats.vocoderSeconds, "unet_evaluations": stats.unetEvaluations, "peak_rss_bytes": memory.peakBytes,
                "samples": waveform.count, "sampling_rate": audioldm.samplingRate, "total_seconds": Date().timeIntervalSince(started),
            ]
            try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]).write(to: URL(fileURLWithPath: statsJson))
        }
    }
}
