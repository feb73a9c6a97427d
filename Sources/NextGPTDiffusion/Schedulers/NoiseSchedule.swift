import Foundation

/// Betas and cumulative alphas exactly as diffusers builds them in float32 torch:
/// `torch.linspace` (one fused multiply-add per element, from the nearer end), squares for
/// `scaled_linear`, the cosine schedule in double rounded once, `torch.cumprod` accumulating in double.
public struct NoiseSchedule: Sendable {
    public let betas: [Float]
    public let alphasCumprod: [Float]

    public init(config: SchedulerConfig) {
        let n = config.numTrainTimesteps
        var betas: [Float]
        if let trained = config.trainedBetas {
            betas = trained.map { Float($0) }
        } else {
            switch config.betaSchedule {
            case "scaled_linear":
                betas = Self.torchLinspace(config.betaStart.squareRoot(), config.betaEnd.squareRoot(), n).map { $0 * $0 }
            case "squaredcos_cap_v2":
                betas = Self.cosineBetas(n)
            default:
                betas = Self.torchLinspace(config.betaStart, config.betaEnd, n)
            }
        }
        if config.rescaleBetasZeroSNR { betas = Self.rescaledToZeroTerminalSNR(betas) }
        self.betas = betas
        alphasCumprod = Self.cumprod(betas.map { 1 - $0 })
    }

    /// `torch.linspace(start, end, count, dtype=torch.float32)` on the CPU.
    static func torchLinspace(_ start: Double, _ end: Double, _ count: Int) -> [Float] {
        let a = Float(start), b = Float(end)
        guard count > 1 else { return [a] }
        let step = (b - a) / Float(count - 1)
        let half = count / 2
        return (0..<count).map { i in
            i < half ? a.addingProduct(step, Float(i)) : b.addingProduct(-step, Float(count - i - 1))
        }
    }

    /// `torch.cumprod` of float32 on the CPU: the running product is kept in double.
    static func cumprod(_ values: [Float]) -> [Float] {
        var running = 1.0
        return values.map { v in
            running *= Double(v)
            return Float(running)
        }
    }

    /// diffusers `betas_for_alpha_bar(n)` (cosine, max_beta 0.999), computed in Python floats.
    static func cosineBetas(_ n: Int) -> [Float] {
        func alphaBar(_ t: Double) -> Double {
            let c = cos((t + 0.008) / 1.008 * Double.pi / 2)
            return c * c
        }
        return (0..<n).map { i in
            let t1 = Double(i) / Double(n), t2 = Double(i + 1) / Double(n)
            return Float(min(1 - alphaBar(t2) / alphaBar(t1), 0.999))
        }
    }

    /// diffusers `rescale_zero_terminal_snr`, op by op in float32.
    static func rescaledToZeroTerminalSNR(_ betas: [Float]) -> [Float] {
        var root = cumprod(betas.map { 1 - $0 }).map { $0.squareRoot() }
        let first = root[0], last = root[root.count - 1]
        let scale = first / (first - last)
        root = root.map { ($0 - last) * scale }
        let bar = root.map { $0 * $0 }
        var alphas = [bar[0]]
        for i in 1..<bar.count { alphas.append(bar[i] / bar[i - 1]) }
        return alphas.map { 1 - $0 }
    }
}

/// numpy's spacing helpers as diffusers uses them for inference timesteps.
enum NumpySpacing {
    /// `np.linspace(0, stop, count)` in double (the last value exactly `stop`).
    static func linspace(_ stop: Double, _ count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [0] : [] }
        let step = stop / Double(count - 1)
        var values = (0..<count).map { Double($0) * step }
        values[count - 1] = stop
        return values
    }

    /// `np.arange(start, 0, -step)` for a float step: numpy fills `start + i * delta`, delta being
    /// the difference of the first two values.
    static func descendingArange(from start: Double, step: Double) -> [Double] {
        let count = Int((start / step).rounded(.up))
        let delta = (start - step) - start
        return (0..<count).map { start + Double($0) * delta }
    }

    /// `np.round` (half to even).
    static func round(_ x: Double) -> Double { x.rounded(.toNearestOrEven) }
}
