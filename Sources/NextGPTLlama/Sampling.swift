import Foundation

/// Token choice from logits, in the order Hugging Face's `generate` applies its processors:
/// repetition penalty, temperature, top-k, top-p, then a draw (or argmax when greedy).
public struct SamplingParameters: Sendable, Equatable {
    /// ≤ 0: greedy.
    public var temperature: Float = 0.8
    /// ≤ 0: off.
    public var topK: Int = 40
    /// ≥ 1: off.
    public var topP: Float = 0.95
    /// 1: off. HF semantics: a seen token's logit is divided by it when positive, multiplied when negative.
    public var repetitionPenalty: Float = 1
    public var seed: UInt64 = 0

    public static let greedy = SamplingParameters(temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0)

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }
}

public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: SplitMix64

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        random = SplitMix64(seed: parameters.seed)
    }

    /// The next token given the logits of the last position and the ids seen so far (prompt
    /// included, as HF's repetition penalty does).
    public mutating func next(logits: UnsafeBufferPointer<Float>, history: [Int]) -> Int {
        let p = parameters
        var scores = Array(logits)
        if p.repetitionPenalty != 1 {
            for id in Set(history) where id >= 0 && id < scores.count {
                scores[id] = scores[id] > 0 ? scores[id] / p.repetitionPenalty : scores[id] * p.repetitionPenalty
            }
        }
        if p.temperature <= 0 { return Sampler.argmax(scores) }
        // Candidates sorted by score, cut by top-k, then by the top-p mass.
        var order = Array(scores.indices)
        if p.topK > 0 && p.topK < order.count {
            order = Array(order.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(p.topK))
        } else {
            order.sort { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        }
        let top = scores[order[0]] / p.temperature
        var weights = order.map { Foundation.exp(Double(scores[$0] / p.temperature - top)) }
        let total = weights.reduce(0, +)
        if p.topP < 1 {
            // Keep the smallest prefix whose probability reaches top-p (at least one token).
            var mass = 0.0, keep = 0
            while keep < weights.count {
                mass += weights[keep] / total
                keep += 1
                if mass >= Double(p.topP) { break }
            }
            order.removeSubrange(keep...)
            weights.removeSubrange(keep...)
        }
        let sum = weights.reduce(0, +)
        var draw = random.nextUnit() * sum
        for (i, w) in weights.enumerated() {
            draw -= w
            if draw < 0 { return order[i] }
        }
        return order[order.count - 1]
    }

    /// First index of the largest value (torch.argmax's tie rule).
    public static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }
}

/// Small seeded generator (SplitMix64): the same seed gives the same tokens on every machine.
struct SplitMix64: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
