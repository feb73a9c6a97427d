import Foundation
import NextGPTCore
import NextGPTKernels

/// `nn.Conv2d(in, out, kernel, stride, padding)`. F32 kernels run im2col + sgemm on the mapped
/// values; every other stored type (F16, and the quantized convolutions the converter stores as
/// [out, in·kh·kw]) stays in its bytes and runs patch rows through the kernel layer's matmul.
public final class Conv2d: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: [Int]
    public let stride: [Int]
    public let padding: [Int]
    let weight: Weight
    let f32Kernel: Tensor?
    /// Q8_0 / Q4_0 kernels copied into the interleaved layout of the integer kernels (`LoadOptions.repackQuantized`).
    let packed: WeightMatrix?
    let bias: Tensor?

    public init(_ w: Weights, in inChannels: Int, out outChannels: Int, kernel: Int,
                stride: Int = 1, padding: Int = 0, hasBias: Bool = true) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = [kernel, kernel]
        self.stride = [stride, stride]
        self.padding = [padding, padding]
        weight = try w.weight("weight", shape: [outChannels, inChannels, kernel, kernel])
        f32Kernel = weight.type == .f32 ? weight.dequantized() : nil
        bias = hasBias ? try w.tensor("bias", shape: [outChannels]) : nil
        packed = w.options.repackQuantized
            ? LinearLayer.repacked(weight, rows: outChannels, columns: inChannels * kernel * kernel, file: w.file, context: w.options.context) : nil
    }

    /// The kernel as f32 [O, C, kh, kw], from the repacked copy when there is one (the mapped
    /// pages were dropped).
    func widenedKernel(_ context: ExecutionContext) -> Tensor {
        guard let packed else { return weight.dequantized() }
        return Tensor(shape: weight.shape) { Matmul.dequantized(packed, into: $0.baseAddress!, context: context) }
    }

    /// The Winograd transform of a quantized kernel from the context's cache (made and kept on
    /// first use when it fits), where the plane is Winograd's and the call's tiles are few enough
    /// for the transform to matter (`context.winogradMaximumTilesKept`); nil otherwise.
    func keptWinogradKernel(batch: Int, height: Int, width: Int, _ context: ExecutionContext) -> WinogradKernel? {
        guard let cache = context.winogradKernels, weight.type.isQuantized, context.winogradEnabled,
              kernel == [3, 3], stride == [1, 1], padding == [1, 1], inChannels >= Convolution.winogradMinimumChannels,
              Convolution.keepsWinogradKernel(batch: batch, height: height, width: width, context: context) else { return nil }
        return cache.kernel(for: self, byteCount: WinogradKernel.byteCount(outChannels: outChannels, inChannels: inChannels)) {
            withStoredMatrix { WinogradKernel(matrix: $0, context: context) }
        }
    }

    /// `body` on the kernel as a matrix [O, C·kh·kw] in its stored type: the repacked copy when
    /// there is one, else the mapped bytes (alive for the call).
    func withStoredMatrix<T>(_ body: (WeightMatrix) -> T) -> T {
        if let packed { return body(packed) }
        let matrix = WeightMatrix(type: weight.type, rows: outChannels, columns: inChannels * kernel[0] * kernel[1],
                                  data: weight.bytes.baseAddress!)
        return withExtendedLifetime(weight) { body(matrix) }
    }

    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        context.measure(profileLabel(height: x.shape[2], width: x.shape[3])) { forward(x, context) }
    }

    /// A 1×1 convolution on positions laid out as rows, x [..., C] → [..., O]: the sums `self`
    /// makes on [N, C, H, W], as the linear they are, without gathering the plane into rows and
    /// scattering the products back (a `Transformer2DModel` holds its positions as rows anyway).
    public func pointwise(rows x: Tensor, _ context: ExecutionContext) -> Tensor {
        precondition(kernel == [1, 1] && stride == [1, 1] && padding == [0, 0] && x.shape.last == inChannels,
                     "Conv2d(\(weight.name)): pointwise on rows \(x.shape) of a \(kernel) kernel, \(inChannels) channels")
        return context.measure("conv1x1 \(weight.type) rows") {
            if let f32Kernel { return Linear.linear(x, weight: f32Kernel.reshaped([outChannels, inChannels]), bias: bias, context: context) }
            return withStoredMatrix { Linear.linear(x, matrix: $0, bias: bias, context: context) }
        }
    }

    /// `self(F.interpolate(x, scale_factor=2, mode="nearest"))`. Where the convolution goes
    /// through a Winograd kernel of the whole plane, the transform reads x as its upsampling and
    /// the upsampled plane is never made (at a 512² VAE's last upsampler, 268 MB at the decode's
    /// peak); elsewhere it is made first.
    public func upsamplingNearest2x(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "Conv2d(\(weight.name)): input \(x.shape), \(inChannels) channels expected")
        let (height, width) = (2 * x.shape[2], 2 * x.shape[3])
        return context.measure(profileLabel(height: height, width: width)) {
            if let transformed = planeWinogradKernel(batch: x.shape[0], height: height, width: width, context) {
                return Convolution.winogradConv3x3(x, kernel: transformed, bias: bias, nearestUpsampling: 1, context: context)
            }
            return forward(Convolution.upsampleNearest2d(x, scaleFactor: 2, context: context), context)
        }
    }

    func profileLabel(height: Int, width: Int) -> String {
        "conv\(kernel[0])x\(kernel[1]) \(weight.type) \(height * width >= 4096 ? "≥64²" : "<64²")"
    }

    func forward(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "Conv2d(\(weight.name)): input \(x.shape), \(inChannels) channels expected")
        if f32Kernel == nil && kernel == [1, 1] && stride == [1, 1] && padding == [0, 0] && x.shape[2] * x.shape[3] >= 4096 {
            // Pointwise over a large plane: one sgemm on the input as it lies beats gathering rows.
            return Convolution.conv2d(x, weight: widenedKernel(context), bias: bias, context: context)
        }
        if let transformed = planeWinogradKernel(batch: x.shape[0], height: x.shape[2], width: x.shape[3], context) {
            return Convolution.winogradConv3x3(x, kernel: transformed, bias: bias, context: context)
        }
        if let f32Kernel {
            return Convolution.conv2d(x, weight: f32Kernel, bias: bias, stride: stride, padding: padding, context: context)
        }
        if let packed, prefersLaneGEMM(packed, height: x.shape[2], width: x.shape[3], context) {
            return Convolution.conv2d(x, matrix: packed, kernel: kernel, bias: bias, stride: stride, padding: padding, context: context)
        }
        if streamsWinograd(batch: x.shape[0], height: x.shape[2], width: x.shape[3], context) {
            // Too large to keep (or nothing keeps kernels): each block of output channels is
            // transformed into scratch as its products need it.
            return withStoredMatrix { Convolution.winogradConv3x3(x, streaming: $0, bias: bias, context: context) }
        }
        return withStoredMatrix {
            Convolution.conv2d(x, matrix: $0, kernel: kernel, bias: bias, stride: stride, padding: padding, context: context)
        }
    }

    /// The Winograd-domain kernel an N×C×H×W input is multiplied with when `forward` takes a
    /// Winograd path over the whole plane: kept in the context's cache, or transformed for this
    /// call (Winograd needs f32 kernels; transforming them per call costs far less than the
    /// saved products). Nil when another path serves the plane better.
    func planeWinogradKernel(batch: Int, height: Int, width: Int, _ context: ExecutionContext) -> WinogradKernel? {
        guard kernel == [3, 3] else { return nil }
        if let f32Kernel {
            return Convolution.useWinograd(channels: inChannels, kernel: kernel, stride: stride, padding: padding,
                                           height: height, width: width, context: context)
                ? WinogradKernel(f32Kernel, context: context) : nil
        }
        if let packed, prefersLaneGEMM(packed, height: height, width: width, context) { return nil }
        if let kept = keptWinogradKernel(batch: batch, height: height, width: width, context) { return kept }
        if streamsWinograd(batch: batch, height: height, width: width, context) { return nil }
        guard Convolution.useWinograd(channels: inChannels, kernel: kernel, stride: stride, padding: padding, height: height,
                                      width: width, quantizedKernel: weight.type.isQuantized, context: context) else { return nil }
        return withStoredMatrix { WinogradKernel(matrix: $0, context: context) }
    }

    func prefersLaneGEMM(_ packed: WeightMatrix, height: Int, width: Int, _ context: ExecutionContext) -> Bool {
        context.laneGEMMOverWinograd && kernel[0] * kernel[1] <= 64
            && Matmul.prefersLaneGEMM(packed, batch: height * width, context: context)
    }

    func streamsWinograd(batch: Int, height: Int, width: Int, _ context: ExecutionContext) -> Bool {
        weight.type.isQuantized && context.kernelLevel == .avx2
            && Convolution.streamsWinogradKernel(channels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
                                                 padding: padding, batch: batch, height: height, width: width, context: context)
    }
}
