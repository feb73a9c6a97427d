import Foundation
import NextGPTKernels

/// diffusers `DDIMScheduler`. `eta` is the pipeline's `eta` argument: above 0 each step adds
/// variance noise drawn from the generator.
public struct DDIMScheduler: DiffusionScheduler {
    public let config: SchedulerConfig
    public let schedule: NoiseSchedule
    public private(set) var timesteps: [Double] = []
    public let initNoiseSigma: Float = 1
    public let order = 1
    public var eta: Float = 0

    private let finalAlphaCumprod: Float
    private var inferenceSteps: Int?

    public init(config: SchedulerConfig, eta: Float = 0) {
        self.config = config
        self.eta = eta
        schedule = NoiseSchedule(config: config)
        finalAlphaCumprod = config.setAlphaToOne ? 1 : schedule.alphasCumprod[0]
    }

    public mutating func setTimesteps(_ steps: Int) throws {
        let train = config.numTrainTimesteps
        guard steps >= 1, steps <= train else { throw SchedulerError.badConfig("\(steps) inference steps (1…\(train))") }
        inferenceSteps = steps
        switch config.timestepSpacing {
        case .linspace:
            timesteps = NumpySpacing.linspace(Double(train - 1), steps).reversed().map { NumpySpacing.round($0) }
        case .leading:
            let ratio = train / steps
            timesteps = (0..<steps).reversed().map { Double($0 * ratio + config.stepsOffset) }
        case .trailing:
            timesteps = NumpySpacing.descendingArange(from: Double(train), step: Double(train) / Double(steps))
                .map { NumpySpacing.round($0) - 1 }
        }
    }

    public mutating func setBeginIndex(_ index: Int) {}

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Double) throws -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, timestep: Double, sample: Tensor, generator: inout TorchGenerator) throws -> Tensor {
        guard let steps = inferenceSteps else { throw SchedulerError.notReady("call setTimesteps before step") }
        let t = Int(timestep)
        let previous = t - config.numTrainTimesteps / steps
        let cumprod = schedule.alphasCumprod
        guard t >= 0, t < cumprod.count else { throw SchedulerError.badConfig("timestep \(t) outside the schedule") }
        let alpha = cumprod[t]
        let alphaPrevious = previous >= 0 ? cumprod[previous] : finalAlphaCumprod
        let beta = 1 - alpha
        let rootAlpha = alpha.squareRoot(), rootBeta = beta.squareRoot()

        var original: Tensor, epsilon: Tensor
        switch config.predictionType {
        case .epsilon:
            original = try SchedulerMath.map(sample, modelOutput) { ($0 - rootBeta * $1) / rootAlpha }
            epsilon = modelOutput
        case .sample:
            original = modelOutput
            epsilon = try SchedulerMath.map(sample, modelOutput) { ($0 - rootAlpha * $1) / rootBeta }
        case .vPrediction:
            original = try SchedulerMath.map(sample, modelOutput) { rootAlpha * $0 - rootBeta * $1 }
            epsilon = try SchedulerMath.map(modelOutput, sample) { rootAlpha * $0 + rootBeta * $1 }
        }
        if config.clipSample {
            let range = Float(config.clipSampleRange)
            original = SchedulerMath.map(original) { min(max($0, -range), range) }
        }
        let betaPrevious = 1 - alphaPrevious
        let variance = betaPrevious / beta * (1 - alpha / alphaPrevious)
        let deviation = eta * variance.squareRoot()
        let directionScale = (1 - alphaPrevious - deviation * deviation).squareRoot()
        let rootAlphaPrevious = alphaPrevious.squareRoot()
        var previousSample = try SchedulerMath.map(original, epsilon) { rootAlphaPrevious * $0 + directionScale * $1 }
        if eta > 0 {
            let noise = generator.randn(modelOutput.shape)
            previousSample = try SchedulerMath.map(previousSample, noise) { $0 + deviation * $1 }
        }
        return previousSample
    }

    public func addNoise(original: Tensor, noise: Tensor, timestep: Double) throws -> Tensor {
        try DDPMNoise.add(original: original, noise: noise, timestep: timestep, alphasCumprod: schedule.alphasCumprod)
    }
}
