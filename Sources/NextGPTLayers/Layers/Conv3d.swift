import Foundation
import NextGPTCore
import NextGPTKernels

/// `nn.Conv3d(in, out, kernel, padding=padding)` (stride 1). The kernels video UNets use,
/// (kt, 1, 1) over frames (`TemporalConvLayer`), run as a 2-D convolution over [N, C, T, H·W]
/// with a (kt, 1) kernel, so stored types other than f32 (F16; the quantized [out, in·kt] the
/// converter folds them to) multiply in their own bytes as `Conv2d` does. Other kernels widen
/// to f32 and go through the 3-D im2col.
public final class Conv3d: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: [Int]
    public let padding: [Int]
    let weight: Weight
    let f32Kernel: Tensor?
    /// Q8_0 / Q4_0 kernels copied into the interleaved layout of the integer kernels (`LoadOptions.repackQuantized`).
    let packed: WeightMatrix?
    let bias: Tensor?

    public init(_ w: Weights, in inChannels: Int, out outChannels: Int, kernel: [Int], padding: [Int],
                hasBias: Bool = true) throws {
        precondition(kernel.count == 3 && padding.count == 3, "Conv3d: kernel \(kernel) and padding \(padding) need three sizes")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.padding = padding
        weight = try w.weight("weight", shape: [outChannels, inChannels] + kernel)
        f32Kernel = weight.type == .f32 ? weight.dequantized() : nil
        bias = hasBias ? try w.tensor("bias", shape: [outChannels]) : nil
        packed = w.options.repackQuantized
            ? LinearLayer.repacked(weight, rows: outChannels, columns: inChannels * kernel.reduce(1, *), file: w.file,
                                   context: w.options.context) : nil
    }

    /// Over frames only: a (kt, 1, 1) kernel without spatial padding.
    var isTemporal: Bool { kernel[1] == 1 && kernel[2] == 1 && padding[1] == 0 && padding[2] == 0 }

    /// x [N, C, T, H, W] → [N, O, T', H', W'].
    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        context.measure("conv3d \(kernel.map(String.init).joined(separator: "x")) \(weight.type)") { forward(x, context) }
    }

    func forward(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        precondition(x.rank == 5 && x.shape[1] == inChannels, "Conv3d(\(weight.name)): input \(x.shape), \(inChannels) channels expected")
        let (n, t, h, w) = (x.shape[0], x.shape[2], x.shape[3], x.shape[4])
        guard isTemporal else {
            return Convolution.conv3d(x, weight: f32Kernel ?? widenedKernel(context), bias: bias, padding: padding, context: context)
        }
        let planes = x.reshaped([n, inChannels, t, h * w])
        let kernel2d = [kernel[0], 1], padding2d = [padding[0], 0]
        let y: Tensor
        if let f32Kernel {
            y = Convolution.conv2d(planes, weight: f32Kernel.reshaped([outChannels, inChannels] + kernel2d), bias: bias,
                                   padding: padding2d, context: context)
        } else if let packed {
            y = Convolution.conv2d(planes, matrix: packed, kernel: kernel2d, bias: bias, padding: padding2d, context: context)
        } else {
            let matrix = WeightMatrix(type: weight.type, rows: outChannels, columns: inChannels * kernel[0],
                                      data: weight.bytes.baseAddress!)
            y = withExtendedLifetime(weight) {
                Convolution.conv2d(planes, matrix: matrix, kernel: kernel2d, bias: bias, padding: padding2d, context: context)
            }
        }
        return y.reshaped([n, outChannels, y.shape[2], h, w])
    }

    /// The kernel as f32 [O, C, kt, kh, kw], from the repacked copy when there is one.
    func widenedKernel(_ context: ExecutionContext) -> Tensor {
        guard let packed else { return weight.dequantized() }
        return Tensor(shape: weight.shape) { Matmul.dequantized(packed, into: $0.baseAddress!, context: context) }
    }
}
