import Foundation
import NextGPTCore
import NextGPTKernels

/// What diffusers' text-to-image and text-to-audio pipelines share: the scheduler from the
/// stored config (optionally swapped by name, `XScheduler.from_config`), the seeded generator,
/// `prepare_latents` and the classifier-free-guided denoising loop. Per-run state, not `Sendable`.
struct DenoisingLoop {
    var scheduler: any DiffusionScheduler
    var generator: TorchGenerator
    let guidanceScale: Double

    /// diffusers' `do_classifier_free_guidance`: a batch of two (negative, positive) per step.
    var guided: Bool { guidanceScale > 1 }

    /// `schedulerName`: `pndm`, `ddim`, `euler`, `euler-a`, or nil for the stored config's class.
    /// `path` names the container in errors.
    init(schedulerConfig: String, schedulerName: String?, eta: Double, steps: Int, seed: UInt64,
         guidanceScale: Double, path: String) throws {
        scheduler = try Self.scheduler(config: schedulerConfig, name: schedulerName, eta: eta, steps: steps, path: path)
        generator = TorchGenerator(seed: seed)
        self.guidanceScale = guidanceScale
    }

    /// `prepare_latents`: the given latents or `randn(shape)` from the seed, × `init_noise_sigma`.
    mutating func initialLatents(_ given: Tensor?, shape: [Int]) -> Tensor {
        Elementwise.scale(given ?? generator.randn(shape), by: scheduler.initNoiseSigma)
    }

    /// The denoising loop from `latents` over `timesteps`: `predictNoise(model_input, t)` is the
    /// UNet on the scaled (and, when guided, doubled) latents; the guided prediction is
    /// `uncond + g·(cond − uncond)`. `onStep(done, total, seconds of that step)` after each step; it may throw to end the run (cancellation).
    mutating func run(_ latents: Tensor, timesteps: [Double], onStep: (Int, Int, Double) throws -> Void,
                      predictNoise: (Tensor, Double) throws -> Tensor) throws -> Tensor {
        var latents = latents
        for (index, t) in timesteps.enumerated() {
            let start = Date()
            let doubled = guided ? Shape.cat([latents, latents], dim: 0) : latents
            var noise = try predictNoise(try scheduler.scaleModelInput(doubled, timestep: t), t)
            if guided { noise = Self.guide(noise, scale: guidanceScale) }
            latents = try scheduler.step(modelOutput: noise, timestep: t, sample: latents, generator: &generator)
            try onStep(index + 1, timesteps.count, Date().timeIntervalSince(start))
        }
        return latents
    }

    /// The pipeline's stored scheduler, or the one `name` swaps in (`XScheduler.from_config`),
    /// with its timesteps set for `steps`. (Text-to-video steps the scheduler on folded frames, so
    /// it uses this and `guide` around its own loop.)
    static func scheduler(config: String, name: String?, eta: Double, steps: Int, path: String) throws -> any DiffusionScheduler {
        var kind: SchedulerKind?
        if let name {
            guard let chosen = SchedulerKind(userName: name) else {
                throw FormatError(path, "unknown scheduler '\(name)' (pndm, ddim, euler, euler-a)")
            }
            kind = chosen
        }
        var scheduler = try Scheduler.from(config: config, override: kind, eta: Float(eta))
        try scheduler.setTimesteps(steps)
        return scheduler
    }

    /// Classifier-free guidance on a batch of [uncond, text]: `uncond + scale · (text − uncond)`.
    static func guide(_ noise: Tensor, scale: Double) -> Tensor {
        let halves = Shape.chunk(noise, 2, dim: 0)
        var guided = halves[0]
        Elementwise.addScaled(&guided, Elementwise.add(halves[1], Elementwise.scale(halves[0], by: -1)), scale: Float(scale))
        return guided
    }
}
