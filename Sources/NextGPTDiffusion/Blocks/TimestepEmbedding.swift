import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// The activations diffusers' `get_activation(name)` builds, as far as the UNet configs use them.
public enum DiffusersActivation: String, Sendable {
    case silu, swish, gelu, relu

    /// `name` from config key `key`; an unknown name is an error naming the key.
    public init(_ name: String, key: String, config: DiffusersConfig) throws {
        guard let activation = DiffusersActivation(rawValue: name.lowercased()) else {
            throw FormatError(config.origin, "'\(key)': activation '\(name)' is not supported (silu, swish, gelu, relu)")
        }
        self = activation
    }

    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        switch self {
        case .silu, .swish: return Activations.silu(x, context: context)
        case .gelu: return Activations.gelu(x, context: context)
        case .relu: return Activations.relu(x, context: context)
        }
    }
}

/// diffusers `Timesteps`: the sinusoidal projection of (possibly fractional) timesteps, which
/// diffusers casts to f32 before multiplying by the frequencies.
public struct Timesteps: Sendable {
    public let numChannels: Int
    public let flipSinToCos: Bool
    public let downscaleFreqShift: Float
    public let scale: Float

    public init(numChannels: Int, flipSinToCos: Bool, downscaleFreqShift: Float, scale: Float = 1) {
        self.numChannels = numChannels
        self.flipSinToCos = flipSinToCos
        self.downscaleFreqShift = downscaleFreqShift
        self.scale = scale
    }

    /// timesteps → [count, numChannels].
    public func callAsFunction(_ timesteps: [Float]) -> Tensor {
        Embeddings.getTimestepEmbedding(timesteps, dim: numChannels, flipSinToCos: flipSinToCos,
                                        downscaleFreqShift: downscaleFreqShift, scale: scale)
    }
}

/// diffusers `TimestepEmbedding`: `linear_1` → act → `linear_2` (→ optional `post_act`).
public final class TimestepEmbedding: Sendable {
    let linear1: LinearLayer
    let act: DiffusersActivation?
    let linear2: LinearLayer
    let postAct: DiffusersActivation?

    public var inFeatures: Int { linear1.inFeatures }

    public init(_ w: Weights, in inChannels: Int, timeEmbedDim: Int, outDim: Int? = nil,
                act: DiffusersActivation? = .silu, postAct: DiffusersActivation? = nil) throws {
        linear1 = try w.linear("linear_1", out: timeEmbedDim, in: inChannels, bias: true)
        linear2 = try w.linear("linear_2", out: outDim ?? timeEmbedDim, in: timeEmbedDim, bias: true)
        self.act = act
        self.postAct = postAct
    }

    /// [N, in] → [N, out].
    public func callAsFunction(_ sample: Tensor, _ context: ExecutionContext) -> Tensor {
        var hidden = linear1(sample, context)
        if let act { hidden = act(hidden, context) }
        hidden = linear2(hidden, context)
        if let postAct { hidden = postAct(hidden, context) }
        return hidden
    }
}
