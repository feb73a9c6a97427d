import Foundation
import NextGPTKernels

/// The sigma schedule and step bookkeeping both diffusers Euler schedulers share.
struct EulerSigmas: Sendable {
    let config: SchedulerConfig
    let schedule: NoiseSchedule
    /// √((1−ᾱ)/ᾱ) over the training timesteps, float32 as torch computes it.
    let trainingSigmas: [Float]
    var timesteps: [Double] = []
    /// One per timestep plus the final 0.
    var sigmas: [Float] = []
    var stepIndex: Int?
    var beginIndex: Int?

    init(config: SchedulerConfig) {
        self.config = config
        schedule = NoiseSchedule(config: config)
        var cumprod = schedule.alphasCumprod
        // diffusers pins the last ᾱ at 2⁻²⁴ so the zero-SNR sigma stays finite.
        if config.rescaleBetasZeroSNR { cumprod[cumprod.count - 1] = 1.0 / 16_777_216.0 }
        trainingSigmas = cumprod.map { ((1 - $0) / $0).squareRoot() }
        // Before setTimesteps: the training schedule, descending (as diffusers' __init__).
        sigmas = trainingSigmas.reversed() + [0]
        timesteps = (0..<config.numTrainTimesteps).reversed().map(Double.init)
    }

    mutating func setTimesteps(_ steps: Int) throws {
        let train = config.numTrainTimesteps
        guard steps >= 1, steps <= train else { throw SchedulerError.badConfig("\(steps) inference steps (1…\(train))") }
        let values: [Float]
        switch config.timestepSpacing {
        case .linspace:
            values = NumpySpacing.linspace(Double(train - 1), steps).reversed().map { Float($0) }
        case .leading:
            let ratio = train / steps
            values = (0..<steps).reversed().map { Float($0 * ratio) + Float(config.stepsOffset) }
        case .trailing:
            values = NumpySpacing.descendingArange(from: Double(train), step: Double(train) / Double(steps))
                .map { Float(NumpySpacing.round($0)) - 1 }
        }
        timesteps = values.map(Double.init)
        sigmas = values.map { Float(Self.interpolate(Double($0), trainingSigmas)) } + [0]
        stepIndex = nil
        beginIndex = nil
    }

    /// `np.interp(t, arange(n), sigmas)` in double.
    static func interpolate(_ t: Double, _ table: [Float]) -> Double {
        if t <= 0 { return Double(table[0]) }
        let last = table.count - 1
        if t >= Double(last) { return Double(table[last]) }
        let j = Int(t.rounded(.down))
        if Double(j) == t { return Double(table[j]) }
        let slope = (Double(table[j + 1]) - Double(table[j])) / 1.0
        return slope * (t - Double(j)) + Double(table[j])
    }

    var maxSigma: Float { sigmas.max() ?? 0 }

    var initNoiseSigma: Float {
        switch config.timestepSpacing {
        case .linspace, .trailing: return maxSigma
        case .leading: return (maxSigma * maxSigma + 1).squareRoot()
        }
    }

    /// diffusers `index_for_timestep`: the second match when a timestep repeats.
    func index(for timestep: Double) throws -> Int {
        let matches = timesteps.indices.filter { timesteps[$0] == timestep }
        guard let first = matches.first else { throw SchedulerError.badConfig("timestep \(timestep) is not in the schedule") }
        return matches.count > 1 ? matches[1] : first
    }

    mutating func currentIndex(_ timestep: Double) throws -> Int {
        if let index = stepIndex { return index }
        let index = try beginIndex ?? self.index(for: timestep)
        guard index < timesteps.count else { throw SchedulerError.badConfig("begin index \(index) past the schedule") }
        stepIndex = index
        return index
    }

    mutating func scaleModelInput(_ sample: Tensor, timestep: Double) throws -> Tensor {
        let sigma = sigmas[try currentIndex(timestep)]
        let denominator = (sigma * sigma + 1).squareRoot()
        return SchedulerMath.map(sample) { $0 / denominator }
    }

    func addNoise(original: Tensor, noise: Tensor, timestep: Double) throws -> Tensor {
        let index = try beginIndex == nil ? self.index(for: timestep) : (stepIndex ?? beginIndex ?? 0)
        guard index < sigmas.count else { throw SchedulerError.badConfig("step index \(index) past the schedule") }
        let sigma = sigmas[index]
        return try SchedulerMath.map(original, noise) { $0 + $1 * sigma }
    }

    /// x₀ predicted from the model output at `sigma`.
    func predictedOriginal(modelOutput: Tensor, sample: Tensor, sigma: Float) throws -> Tensor {
        switch config.predictionType {
        case .epsilon:
            return try SchedulerMath.map(sample, modelOutput) { $0 - sigma * $1 }
        case .vPrediction:
            let outputScale = -sigma / (sigma * sigma + 1).squareRoot()
            let sampleScale = sigma * sigma + 1
            return try SchedulerMath.map(modelOutput, sample) { $0 * outputScale + $1 / sampleScale }
        case .sample:
            return modelOutput
        }
    }
}

/// diffusers `EulerDiscreteScheduler` (Karras et al. Algorithm 2 without churn, the pipeline default).
public struct EulerDiscreteScheduler: DiffusionScheduler {
    var state: EulerSigmas
    public var config: SchedulerConfig { state.config }
    public var schedule: NoiseSchedule { state.schedule }
    public var timesteps: [Double] { state.timesteps }
    public var sigmas: [Float] { state.sigmas }
    public var initNoiseSigma: Float { state.initNoiseSigma }
    public let order = 1

    public init(config: SchedulerConfig) { state = EulerSigmas(config: config) }

    public mutating func setTimesteps(_ steps: Int) throws { try state.setTimesteps(steps) }
    public mutating func setBeginIndex(_ index: Int) { state.beginIndex = index }

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Double) throws -> Tensor {
        try state.scaleModelInput(sample, timestep: timestep)
    }

    public mutating func step(modelOutput: Tensor, timestep: Double, sample: Tensor, generator: inout TorchGenerator) throws -> Tensor {
        let index = try state.currentIndex(timestep)
        let sigma = state.sigmas[index]
        // s_churn = 0: γ = 0, σ̂ = σ, and no noise is drawn.
        let original = try state.predictedOriginal(modelOutput: modelOutput, sample: sample, sigma: sigma)
        let dt = state.sigmas[index + 1] - sigma
        let result = try SchedulerMath.map(sample, original) { s, x0 in s + ((s - x0) / sigma) * dt }
        state.stepIndex = index + 1
        return result
    }

    public func addNoise(original: Tensor, noise: Tensor, timestep: Double) throws -> Tensor {
        try state.addNoise(original: original, noise: noise, timestep: timestep)
    }
}

/// diffusers `EulerAncestralDiscreteScheduler`: an Euler step to σ_down plus fresh noise of σ_up.
public struct EulerAncestralDiscreteScheduler: DiffusionScheduler {
    var state: EulerSigmas
    public var config: SchedulerConfig { state.config }
    public var schedule: NoiseSchedule { state.schedule }
    public var timesteps: [Double] { state.timesteps }
    public var sigmas: [Float] { state.sigmas }
    public var initNoiseSigma: Float { state.initNoiseSigma }
    public let order = 1

    public init(config: SchedulerConfig) { state = EulerSigmas(config: config) }

    public mutating func setTimesteps(_ steps: Int) throws { try state.setTimesteps(steps) }
    public mutating func setBeginIndex(_ index: Int) { state.beginIndex = index }

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Double) throws -> Tensor {
        try state.scaleModelInput(sample, timestep: timestep)
    }

    public mutating func step(modelOutput: Tensor, timestep: Double, sample: Tensor, generator: inout TorchGenerator) throws -> Tensor {
        let index = try state.currentIndex(timestep)
        let sigma = state.sigmas[index]
        let original = try state.predictedOriginal(modelOutput: modelOutput, sample: sample, sigma: sigma)
        let from = sigma, to = state.sigmas[index + 1]
        let sigmaUp = (to * to * (from * from - to * to) / (from * from)).squareRoot()
        let sigmaDown = (to * to - sigmaUp * sigmaUp).squareRoot()
        let dt = sigmaDown - sigma
        let deterministic = try SchedulerMath.map(sample, original) { s, x0 in s + ((s - x0) / sigma) * dt }
        let noise = generator.randn(modelOutput.shape)
        let result = try SchedulerMath.map(deterministic, noise) { $0 + $1 * sigmaUp }
        state.stepIndex = index + 1
        return result
    }

    public func addNoise(original: Tensor, noise: Tensor, timestep: Double) throws -> Tensor {
        try state.addNoise(original: original, noise: noise, timestep: timestep)
    }
}
