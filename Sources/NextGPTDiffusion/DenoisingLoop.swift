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
        var kind: SchedulerKind?
        if let name = schedulerName {
            guard let chosen = SchedulerKind(userName: name) else {
                throw FormatError(path, "unknown scheduler '\(name)' (pndm, ddim, euler, euler-a)")
            }
            kind = chosen
        }
        scheduler = try Scheduler.from(config: schedulerConfig, override: kind, eta: Float(eta))
        try scheduler.setTimesteps(steps)
        generator = TorchGenerator(seed: seed)
        self.guidanceScale = guidanceScale
    }

    /// `prepare_latents`: the given latents or `randn(shape)` from the seed, × `init_noise_sigma`.
    mutating func initialLatents(_ given: Tensor?, shape: [Int]) -> Tensor {
        Elementwise.scale(given ?? generator.randn(shape), by: scheduler.initNoiseSigma)
    }

    /// The denoising loop from `latents` over `timesteps`: `predictNoise(model_input, t)` is the
    /// UNet on the scaled (and, when guided, doubled) latents; the guided prediction is
    /// `uncond + g·(cond − uncond)`. `onStep(done, total, seconds of that step)` after each step.
    mutating func run(_ latents: Tensor, timesteps: [Double], onStep: (Int, Int, Double) -> Void,
                      predictNoise: (Tensor, Double) throws -> Tensor) throws -> Tensor {
        var latents = latents
        for (index, t) in timesteps.enumerated() {
            let start = Date()
            let doubled = guided ? Shape.cat([latents, latents], dim: 0) : latents
            var noise = try predictNoise(try scheduler.scaleModelInput(doubled, timestep: t), t)
            if guided {
                let halves = Shape.chunk(noise, 2, dim: 0)
                noise = halves[0]
                Elementwise.addScaled(&noise, Elementwise.add(halves[1], Elementwise.scale(halves[0], by: -1)),
                                      scale: Float(guidanceScale))
            }
            latents = try scheduler.step(modelOutput: noise, timestep: t, sample: latents, generator: &generator)
            onStep(index + 1, timesteps.count, Date().timeIntervalSince(start))
        }
        return latents
    }
}
