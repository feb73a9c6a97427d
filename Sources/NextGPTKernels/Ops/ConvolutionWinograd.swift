import CNextGPTKernels
import COpenBLAS
import Foundation

extension Convolution {
    package static let winogradMinimumChannels = 16

    /// Whether `conv2d` takes the Winograd path for a 3×3 kernel on an H×W input. Winograd
    /// F(4×4, 3×3) does 36 multiplies per 4×4 output tile and channel pair instead of 144, at the
    /// cost of transforms that only pay on planes of many tiles (`context.winogradMinimumTiles`)
    /// and enough channels.
    /// `quantizedKernel`: the kernel is stored quantized, so the alternative is the integer
    /// kernels (`context.winogradMinimumTilesOverInteger` at the AVX2 level).
    package static func useWinograd(channels: Int, kernel: [Int], stride: [Int], padding: [Int], height: Int, width: Int,
                                    quantizedKernel: Bool = false, context: ExecutionContext) -> Bool {
        let minimumTiles = quantizedKernel && context.kernelLevel == .avx2
            ? min(context.winogradMinimumTiles, context.winogradMinimumTilesOverInteger) : context.winogradMinimumTiles
        return context.winogradEnabled && kernel == [3, 3] && stride == [1, 1] && padding == [1, 1]
            && channels >= winogradMinimumChannels && ((height + 3) / 4) * ((width + 3) / 4) >= minimumTiles
    }

    /// `F.conv2d(x, weight, bias, stride=1, padding=1)` for weight [O, C, 3, 3], by Winograd
    /// F(4×4, 3×3): the tiles of all samples are taken a bounded chunk at a time (transformed
    /// input and products stay below `context.convolutionColumnBudget` floats each), with 36 sgemm per chunk.
    public static func winogradConv3x3(_ x: Tensor, weight: Tensor, bias: Tensor?, context: ExecutionContext) -> Tensor {
        winogradConv3x3(x, kernel: WinogradKernel(weight, context: context), bias: bias, context: context)
    }

    /// The same product on a kernel transformed beforehand, so a caller that runs one convolution
    /// many times (the UNet's steps) pays the transform once.
    public static func winogradConv3x3(_ x: Tensor, kernel: WinogradKernel, bias: Tensor?, context: ExecutionContext) -> Tensor {
        precondition(x.rank == 4 && kernel.inChannels == x.shape[1],
                     "winogradConv3x3: input \(x.shape), kernel for \(kernel.inChannels) channels")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = kernel.outChannels
        if let bias { precondition(bias.count == o, "conv2d: bias \(bias.shape) for \(o) outputs") }
        // Tiles of every sample form one sequence, so small planes still give the GEMMs wide panels.
        let perImage = ((h + 3) / 4) * ((w + 3) / 4), tiles = n * perImage
        // The 36 GEMMs run at full speed only with a few hundred columns: 4× the im2col budget.
        let chunk = max(8, min(tiles, 4 * context.convolutionColumnBudget / (36 * max(c, o))))
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 36 * c * chunk)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: 36 * o * chunk)
        defer { v.deallocate(); m.deallocate() }
        let (vs, ms) = (SendablePointer(v), SendablePointer(m))
        let biasValues = bias?.values
        return Tensor(shape: [n, o, h, w]) { out in
            let y = SendablePointer(out.baseAddress!)
            x.readPointer { src in
                let input = SendablePointer(UnsafeMutablePointer(mutating: src))
                var t0 = 0
                while t0 < tiles {
                    let count = min(chunk, tiles - t0)
                    // (sample, first tile, tiles, column) runs of this chunk
                    var runs: [(Int, Int, Int, Int)] = []
                    var t = t0
                    while t < t0 + count {
                        let sample = t / perImage, first = t % perImage
                        let length = min(perImage - first, t0 + count - t)
                        runs.append((sample, first, length, t - t0))
                        t += length
                    }
                    OpParallel.forEach(c, costPerItem: count * 400, context: context) { range in
                        for (sample, first, length, column) in runs {
                            ngk_winograd43_input(input.base + sample * c * h * w, h, w, range.lowerBound, range.upperBound, c,
                                                 first, length, vs.base + column, count)
                        }
                    }
                    // 36 independent products: one single-threaded sgemm each, spread over the pool.
                    let (vIn, mOut) = (vs, ms)
                    kernel.values.readPointer { transformed in
                    let u = SendablePointer(UnsafeMutablePointer(mutating: transformed))
                    context.pool.parallelFor(each: 36) { k in
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(count), Int32(c), 1,
                                    u.base + k * o * c, Int32(c), vIn.base + k * c * count, Int32(count), 0,
                                    mOut.base + k * o * count, Int32(count))
                    }
                    }
                    biasValues.withOptionalBaseAddress { biasPointer in
                        let shared = biasPointer.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
                        OpParallel.forEach(o, costPerItem: count * 300, context: context) { range in
                            for (sample, first, length, column) in runs {
                                ngk_winograd43_output(ms.base + column, count, range.lowerBound, range.upperBound, o, first, length,
                                                      h, w, shared?.base, y.base + sample * o * h * w)
                            }
                        }
                    }
                    t0 += count
                }
            }
        }
    }
}

/// A 3×3 kernel [O, C, 3, 3] in the Winograd F(4×4, 3×3) domain: 36 matrices [O, C], G g Gᵀ
/// of every output/input channel pair, 4× the kernel's f32 size.
public final class WinogradKernel: Sendable {
    public let outChannels: Int
    public let inChannels: Int
    /// [36, O, C]
    let values: Tensor

    public init(_ weight: Tensor, context: ExecutionContext) {
        precondition(weight.shape.count == 4 && weight.shape[2] == 3 && weight.shape[3] == 3, "WinogradKernel: weight \(weight.shape)")
        let (o, c) = (weight.shape[0], weight.shape[1])
        (outChannels, inChannels) = (o, c)
        values = Tensor(shape: [36, o, c]) { out in
            let target = SendablePointer(out.baseAddress!)
            weight.readPointer { w in
                OpParallel.forEach(o * c, costPerItem: 200, context: context) { range in
                    ngk_winograd43_weights(w, o, c, range.lowerBound, range.upperBound, target.base)
                }
            }
        }
    }

    /// Bytes the transformed kernel holds.
    public var byteCount: Int { Self.byteCount(outChannels: outChannels, inChannels: inChannels) }

    /// Bytes the transform of an [O, C, 3, 3] kernel takes, before making it.
    public static func byteCount(outChannels: Int, inChannels: Int) -> Int { 36 * outChannels * inChannels * MemoryLayout<Float>.size }
}

extension Optional where Wrapped == [Float] {
    func withOptionalBaseAddress<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let self else { return body(nil) }
        return self.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
