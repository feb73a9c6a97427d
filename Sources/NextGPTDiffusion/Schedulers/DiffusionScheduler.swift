import Foundation
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// What a denoising loop asks of a scheduler (diffusers' `SchedulerMixin` surface as the
/// Stable Diffusion pipelines use it). Timesteps are doubles: Euler's may be fractional and the
/// UNet takes them as floats.
///
/// `scaleModelInput` and `step` are mutating because the Euler schedulers, like diffusers', find
/// their step index on first use.
public protocol DiffusionScheduler: Sendable {
    var config: SchedulerConfig { get }
    /// Valid after `setTimesteps`.
    var timesteps: [Double] { get }
    var initNoiseSigma: Float { get }
    /// diffusers' `scheduler.order` (1 for all four here).
    var order: Int { get }

    mutating func setTimesteps(_ steps: Int) throws
    /// diffusers `set_begin_index` (a no-op for schedulers that look nothing up).
    mutating func setBeginIndex(_ index: Int)
    mutating func scaleModelInput(_ sample: Tensor, timestep: Double) throws -> Tensor
    /// One denoising step: the previous (less noisy) sample. Noise, when the scheduler needs any,
    /// is drawn from `generator` exactly as the diffusers pipeline draws it.
    mutating func step(modelOutput: Tensor, timestep: Double, sample: Tensor, generator: inout TorchGenerator) throws -> Tensor
    func addNoise(original: Tensor, noise: Tensor, timestep: Double) throws -> Tensor
}

extension DiffusionScheduler {
    /// The img2img schedule, diffusers' `get_timesteps(num_inference_steps, strength)`: skips
    /// the first `steps − ⌊steps·strength⌋` timesteps and sets the begin index there. Call after
    /// `setTimesteps(steps)`; returns the timesteps to run (the first is the one to noise the
    /// encoded image to).
    public mutating func img2imgTimesteps(steps: Int, strength: Double) -> [Double] {
        let initTimestep = min(Int(Double(steps) * strength), steps)
        let start = max(steps - initTimestep, 0)
        let first = min(start * order, timesteps.count)
        setBeginIndex(start * order)
        return Array(timesteps[first...])
    }
}

/// Makes a scheduler from a pipeline's scheduler config, optionally swapping the class as
/// `XScheduler.from_config(pipe.scheduler.config)` does.
public enum Scheduler {
    /// `eta` is the pipeline's DDIM `eta` (ignored by the other schedulers, as diffusers ignores it).
    public static func from(config json: String, override: SchedulerKind? = nil, eta: Float = 0) throws -> any DiffusionScheduler {
        try from(config: SchedulerConfig(json: json, as: override), eta: eta)
    }

    public static func from(config: SchedulerConfig, eta: Float = 0) throws -> any DiffusionScheduler {
        switch config.kind {
        case .pndm: return PNDMScheduler(config: config)
        case .ddim: return DDIMScheduler(config: config, eta: eta)
        case .euler: return EulerDiscreteScheduler(config: config)
        case .eulerAncestral: return EulerAncestralDiscreteScheduler(config: config)
        }
    }

    /// From a container's `<pipeline>.scheduler.config` metadata (e.g. pipeline `sd15`).
    public static func from(file: ModelFile, pipeline: String, override: SchedulerKind? = nil, eta: Float = 0) throws -> any DiffusionScheduler {
        let key = "\(pipeline).scheduler.config"
        guard let value = file.metadata[key], case .string(let json) = value else {
            throw SchedulerError.badConfig("container has no string metadata \(key)")
        }
        return try from(config: json, override: override, eta: eta)
    }
}

/// Element-wise float32 arithmetic in the order torch evaluates the diffusers expressions, one
/// rounding per torch op.
enum SchedulerMath {
    static func map(_ a: Tensor, _ body: (Float) -> Float) -> Tensor {
        a.withUnsafeBufferPointer { x in Tensor(shape: a.shape) { out in for i in 0..<x.count { out[i] = body(x[i]) } } }
    }

    static func map(_ a: Tensor, _ b: Tensor, _ body: (Float, Float) -> Float) throws -> Tensor {
        guard a.shape == b.shape else { throw SchedulerError.badConfig("tensor shapes differ: \(a.shape) vs \(b.shape)") }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                Tensor(shape: a.shape) { out in for i in 0..<x.count { out[i] = body(x[i], y[i]) } }
            }
        }
    }

    /// `tensor ** 0.5` of a 0-d float32 tensor.
    static func sqrt(_ x: Float) -> Float { x.squareRoot() }
}
