import Foundation
import NextGPTKernels

/// diffusers `PNDMScheduler`: pseudo linear multistep (PLMS) steps, preceded by Runge–Kutta (PRK)
/// steps unless `skip_prk_steps` (Stable Diffusion 1.5's setting).
public struct PNDMScheduler: DiffusionScheduler {
    public let config: SchedulerConfig
    public let schedule: NoiseSchedule
    public private(set) var timesteps: [Double] = []
    public let initNoiseSigma: Float = 1
    public let order = 1

    private let finalAlphaCumprod: Float
    private var inferenceSteps: Int?
    private var prkTimesteps: [Int] = []
    /// Model outputs kept for the multistep formula (diffusers `ets`).
    private var ets: [Tensor] = []
    private var counter = 0
    private var runningModelOutput: Tensor?
    private var savedSample: Tensor?

    public init(config: SchedulerConfig) {
        self.config = config
        schedule = NoiseSchedule(config: config)
        finalAlphaCumprod = config.setAlphaToOne ? 1 : schedule.alphasCumprod[0]
    }

    public mutating func setTimesteps(_ steps: Int) throws {
        let train = config.numTrainTimesteps
        guard steps >= 1, steps <= train else { throw SchedulerError.badConfig("\(steps) inference steps (1…\(train))") }
        inferenceSteps = steps
        // Ascending, as diffusers' `_timesteps`.
        var base: [Int]
        switch config.timestepSpacing {
        case .linspace:
            base = NumpySpacing.linspace(Double(train - 1), steps).map { Int(NumpySpacing.round($0)) }
        case .leading:
            let ratio = train / steps
            base = (0..<steps).map { $0 * ratio + config.stepsOffset }
        case .trailing:
            let values = NumpySpacing.descendingArange(from: Double(train), step: Double(train) / Double(steps))
            base = values.reversed().map { Int(NumpySpacing.round($0)) - 1 }
        }
        let plms: [Int]
        if config.skipPrkSteps {
            prkTimesteps = []
            // The second-to-last timestep twice: PLMS's first step is a two-stage one.
            // (numpy's `_timesteps[-2:-1]` is empty for a single step.)
            let secondToLast = base.count >= 2 ? [base[base.count - 2]] : []
            plms = Array((base.dropLast() + secondToLast + base.suffix(1)).reversed())
        } else {
            guard base.count >= 4 else {
                throw SchedulerError.unsupported("PNDM with Runge–Kutta steps needs at least 4 inference steps")
            }
            let half = train / steps / 2
            var prk: [Int] = []
            for t in base.suffix(4) { prk += [t, t + half] }
            var doubled: [Int] = []
            for t in prk.dropLast() { doubled += [t, t] }
            prkTimesteps = Array(doubled.dropFirst().dropLast().reversed())
            plms = Array(base.dropLast(3).reversed())
        }
        timesteps = (prkTimesteps + plms).map(Double.init)
        ets = []
        counter = 0
        runningModelOutput = nil
        savedSample = nil
    }

    public mutating func setBeginIndex(_ index: Int) {}

    public mutating func scaleModelInput(_ sample: Tensor, timestep: Double) throws -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, timestep: Double, sample: Tensor, generator: inout TorchGenerator) throws -> Tensor {
        guard inferenceSteps != nil else { throw SchedulerError.notReady("call setTimesteps before step") }
        if counter < prkTimesteps.count && !config.skipPrkSteps {
            return try stepRungeKutta(modelOutput: modelOutput, timestep: Int(timestep), sample: sample)
        }
        return try stepMultistep(modelOutput: modelOutput, timestep: Int(timestep), sample: sample)
    }

    private mutating func stepRungeKutta(modelOutput: Tensor, timestep: Int, sample: Tensor) throws -> Tensor {
        let steps = inferenceSteps ?? 1
        let diffToPrevious = counter % 2 == 1 ? 0 : config.numTrainTimesteps / steps / 2
        let previous = timestep - diffToPrevious
        let current = prkTimesteps[counter / 4 * 4]
        var output = modelOutput
        let sixth = Float(1.0 / 6.0), third = Float(1.0 / 3.0)
        switch counter % 4 {
        case 0:
            runningModelOutput = SchedulerMath.map(modelOutput) { sixth * $0 }
            ets.append(modelOutput)
            savedSample = sample
        case 1, 2:
            let scaled = SchedulerMath.map(modelOutput) { third * $0 }
            runningModelOutput = try runningModelOutput.map { try SchedulerMath.map($0, scaled, +) } ?? scaled
        default:
            let scaled = SchedulerMath.map(modelOutput) { sixth * $0 }
            output = try runningModelOutput.map { try SchedulerMath.map($0, scaled, +) } ?? scaled
            runningModelOutput = nil
        }
        let result = try previousSample(savedSample ?? sample, timestep: current, previous: previous, modelOutput: output)
        counter += 1
        return result
    }

    private mutating func stepMultistep(modelOutput: Tensor, timestep: Int, sample: Tensor) throws -> Tensor {
        if !config.skipPrkSteps && ets.count < 3 {
            throw SchedulerError.notReady("PNDM multistep needs the 12 Runge–Kutta steps first")
        }
        let stride = config.numTrainTimesteps / (inferenceSteps ?? 1)
        var current = timestep, previous = timestep - stride
        if counter != 1 {
            ets = Array(ets.suffix(3)) + [modelOutput]
        } else {
            previous = timestep
            current = timestep + stride
        }
        var output = modelOutput
        var input = sample
        if ets.count == 1 && counter == 0 {
            savedSample = sample
        } else if ets.count == 1 && counter == 1 {
            output = try SchedulerMath.map(modelOutput, ets[0]) { ($0 + $1) / 2 }
            input = savedSample ?? sample
            savedSample = nil
        } else if ets.count == 2 {
            output = try SchedulerMath.map(ets[1], ets[0]) { (3 * $0 - $1) / 2 }
        } else if ets.count == 3 {
            let a = try SchedulerMath.map(ets[2], ets[1]) { 23 * $0 - 16 * $1 }
            output = try SchedulerMath.map(a, ets[0]) { ($0 + 5 * $1) / 12 }
        } else {
            let a = try SchedulerMath.map(ets[3], ets[2]) { 55 * $0 - 59 * $1 }
            let b = try SchedulerMath.map(a, ets[1]) { $0 + 37 * $1 }
            let factor = Float(1.0 / 24.0)
            output = try SchedulerMath.map(b, ets[0]) { factor * ($0 - 9 * $1) }
        }
        let result = try previousSample(input, timestep: current, previous: previous, modelOutput: output)
        counter += 1
        return result
    }

    /// PNDM paper formula (9), in diffusers' float32 order of operations.
    private func previousSample(_ sample: Tensor, timestep: Int, previous: Int, modelOutput: Tensor) throws -> Tensor {
        let cumprod = schedule.alphasCumprod
        guard timestep >= 0, timestep < cumprod.count, previous < cumprod.count else {
            throw SchedulerError.badConfig("timestep \(timestep) outside the \(cumprod.count) training timesteps")
        }
        let alpha = cumprod[timestep]
        let alphaPrevious = previous >= 0 ? cumprod[previous] : finalAlphaCumprod
        let beta = 1 - alpha, betaPrevious = 1 - alphaPrevious
        var epsilon = modelOutput
        if config.predictionType == .vPrediction {
            let a = alpha.squareRoot(), b = beta.squareRoot()
            epsilon = try SchedulerMath.map(modelOutput, sample) { a * $0 + b * $1 }
        }
        let sampleCoefficient = (alphaPrevious / alpha).squareRoot()
        let denominator = alpha * betaPrevious.squareRoot() + (alpha * beta * alphaPrevious).squareRoot()
        let difference = alphaPrevious - alpha
        return try SchedulerMath.map(sample, epsilon) { sampleCoefficient * $0 - (difference * $1) / denominator }
    }

    public func addNoise(original: Tensor, noise: Tensor, timestep: Double) throws -> Tensor {
        try DDPMNoise.add(original: original, noise: noise, timestep: timestep, alphasCumprod: schedule.alphasCumprod)
    }
}

/// diffusers `DDPMScheduler.add_noise` (copied into PNDM and DDIM): √ᾱ·x₀ + √(1−ᾱ)·ε in float32.
enum DDPMNoise {
    static func add(original: Tensor, noise: Tensor, timestep: Double, alphasCumprod: [Float]) throws -> Tensor {
        let t = Int(timestep)
        guard t >= 0, t < alphasCumprod.count else { throw SchedulerError.badConfig("timestep \(t) outside the schedule") }
        let a = alphasCumprod[t].squareRoot(), b = (1 - alphasCumprod[t]).squareRoot()
        return try SchedulerMath.map(original, noise) { a * $0 + b * $1 }
    }
}
