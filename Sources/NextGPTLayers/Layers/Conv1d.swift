import Foundation
import NextGPTCore
import NextGPTKernels

/// `nn.Conv1d(in, out, kernel, stride, padding, dilation)`, its kernel widened to f32 at load
/// (the vocoder's are small next to the im2col products they feed).
public final class Conv1d: Sendable {
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    let weight: Tensor
    let bias: Tensor?

    public init(_ w: Weights, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, hasBias: Bool = true) throws {
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        weight = try w.weightNormedTensor(shape: [outChannels, inChannels, kernel])
        bias = hasBias ? try w.tensor("bias", shape: [outChannels]) : nil
    }

    public var inChannels: Int { weight.shape[1] }

    /// x [N, C, L] → [N, O, L'].
    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        precondition(x.rank == 3 && x.shape[1] == inChannels, "Conv1d: input \(x.shape), \(inChannels) channels expected")
        return context.measure("conv1d k\(weight.shape[2])") {
            Convolution.conv1d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, context: context)
        }
    }
}

/// `nn.ConvTranspose1d(in, out, kernel, stride, padding)`, kernel [in, out, K] widened to f32 at load.
public final class ConvTranspose1d: Sendable {
    public let stride: Int
    public let padding: Int
    let weight: Tensor
    let bias: Tensor?

    public init(_ w: Weights, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                hasBias: Bool = true) throws {
        self.stride = stride
        self.padding = padding
        weight = try w.weightNormedTensor(shape: [inChannels, outChannels, kernel])
        bias = hasBias ? try w.tensor("bias", shape: [outChannels]) : nil
    }

    public var inChannels: Int { weight.shape[0] }

    /// x [N, C, L] → [N, O, (L − 1)·stride − 2·padding + K].
    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        precondition(x.rank == 3 && x.shape[1] == inChannels, "ConvTranspose1d: input \(x.shape), \(inChannels) channels expected")
        return context.measure("conv_transpose1d k\(weight.shape[2])") {
            Convolution.convTranspose1d(x, weight: weight, bias: bias, stride: stride, padding: padding, context: context)
        }
    }
}

extension Weights {
    /// The module's `weight` as f32 in `shape`: stored plainly, or as `torch.nn.utils.weight_norm`
    /// leaves it (`weight_g` [d0, 1, …], `weight_v`; or the parametrization's `original0` /
    /// `original1`), folded as w = g · v / ‖v‖ with the norm over every dimension but the first.
    func weightNormedTensor(shape: [Int]) throws -> Tensor {
        let pairs = [("weight_g", "weight_v"), ("parametrizations.weight.original0", "parametrizations.weight.original1")]
        guard let (gName, vName) = pairs.first(where: { contains($0.0) }) else { return try tensor("weight", shape: shape) }
        let v = try tensor(vName, shape: shape)
        let g = try tensor(gName, shape: [shape[0]] + [Int](repeating: 1, count: shape.count - 1))
        let inner = shape.dropFirst().reduce(1, *)
        var values = v.values
        let gains = g.values
        for row in 0..<shape[0] {
            let range = (row * inner)..<((row + 1) * inner)
            let norm = Float(values[range].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot())
            for i in range { values[i] = values[i] * (gains[row] / norm) }
        }
        return Tensor(shape: shape, values: values)
    }

    /// `nn.Conv1d` at `<path>.<name>`.
    public func conv1d(_ name: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                       dilation: Int = 1, bias: Bool = true) throws -> Conv1d {
        try Conv1d(pp(name), in: inChannels, out: outChannels, kernel: kernel, stride: stride, padding: padding, dilation: dilation, hasBias: bias)
    }

    /// `nn.ConvTranspose1d` at `<path>.<name>`.
    public func convTranspose1d(_ name: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1,
                                padding: Int = 0, bias: Bool = true) throws -> ConvTranspose1d {
        try ConvTranspose1d(pp(name), in: inChannels, out: outChannels, kernel: kernel, stride: stride, padding: padding, hasBias: bias)
    }
}
