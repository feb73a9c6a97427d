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

    /// Tiles per chunk of `winogradConv3x3(_:kernel:...)`: at most 4× the im2col budget of
    /// transformed floats (the 36 GEMMs run at full speed only with a few hundred columns), in
    /// chunks of equal size in whole 16-column tiles of the products. Filling chunks to the budget
    /// left SD's 960→320 convolution at 64² a last chunk of 28 tiles, and 242-tile chunks whose
    /// last column tile was 2 wide: their products ran at 63 and 77 GFLOP/s on one Zen 3 core,
    /// 160- and 176-tile chunks at 80–82.
    package static func winogradChunk(tiles: Int, channels c: Int, outChannels o: Int, context: ExecutionContext) -> Int {
        let most = max(8, min(tiles, 4 * context.convolutionColumnBudget / (36 * max(c, o))))
        guard most >= 16 && most < tiles else { return most }
        let chunks = (tiles + most - 1) / most
        return min(tiles, ((tiles + chunks - 1) / chunks + 15) / 16 * 16)
    }

    /// The same product on a kernel transformed beforehand, so a caller that runs one convolution
    /// many times (the UNet's steps) pays the transform once. From 16 to
    /// `context.winogradInPlaceProductTiles` tiles a chunk, the 36 products run the register-tiled
    /// sgemm on the operands in place (`ngs_sgemm_nn`); BLAS would spend as much packing them.
    /// (Below 16, its half-empty 16-wide tiles lose to BLAS.)
    /// `nearestUpsampling` u > 0: the convolution of `F.interpolate(x, scale_factor=2^u, mode="nearest")`,
    /// which the input transform reads from x without making it.
    public static func winogradConv3x3(_ x: Tensor, kernel: WinogradKernel, bias: Tensor?, nearestUpsampling up: Int = 0,
                                       context: ExecutionContext) -> Tensor {
        precondition(x.rank == 4 && kernel.inChannels == x.shape[1] && (0...4).contains(up),
                     "winogradConv3x3: input \(x.shape), kernel for \(kernel.inChannels) channels, upsampling 2^\(up)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2] << up, x.shape[3] << up)
        let sourcePlane = x.shape[2] * x.shape[3]
        let o = kernel.outChannels
        if let bias { precondition(bias.count == o, "conv2d: bias \(bias.shape) for \(o) outputs") }
        // Tiles of every sample form one sequence, so small planes still give the GEMMs wide panels.
        let perImage = ((h + 3) / 4) * ((w + 3) / 4), tiles = n * perImage
        let chunk = winogradChunk(tiles: tiles, channels: c, outChannels: o, context: context)
        let biasValues = bias?.values
        // Scratch from the loop's activation arena (`Tensor.withScratch`): at 64² planes of 640–960
        // channels v is 34 MB, past glibc's largest heap block, and was mapped afresh every call.
        return Tensor.withScratch(36 * ngk_winograd43_plane(c, chunk)) { v in
            Tensor.withScratch(36 * ngk_winograd43_plane(o, chunk)) { m in
                Tensor(shape: [n, o, h, w]) { out in
                    x.readPointer { src in
                        biasValues.withOptionalBaseAddress { shift in
                            var t0 = 0
                            while t0 < tiles {
                                let count = min(chunk, tiles - t0)
                                winogradTiles(t0, count: count, perImage: perImage, of: src, sourcePlane: sourcePlane, upsampling: up,
                                              channels: c, height: h, width: w, kernel: kernel, bias: shift, v: v, m: m,
                                              into: out.baseAddress!, context: context)
                                t0 += count
                            }
                        }
                    }
                }
            }
        }
    }

    /// Tiles [t0, t0 + count) of the batch's sequence through `winogradConv3x3(_:kernel:...)`:
    /// transformed into v, their 36 products into m, their output tiles written to y.
    private static func winogradTiles(_ t0: Int, count: Int, perImage: Int, of src: UnsafePointer<Float>, sourcePlane: Int,
                                      upsampling up: Int, channels c: Int, height h: Int, width w: Int, kernel: WinogradKernel,
                                      bias: UnsafePointer<Float>?, v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                                      into out: UnsafeMutablePointer<Float>, context: ExecutionContext) {
        let o = kernel.outChannels
        let (input, vs, ms, y) = (SendablePointer(UnsafeMutablePointer(mutating: src)), SendablePointer(v), SendablePointer(m),
                                  SendablePointer(out))
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
                ngk_winograd43_input_nearest(input.base + sample * c * sourcePlane, up, h, w, range.lowerBound,
                                             range.upperBound, c, first, length, vs.base + column, count)
            }
        }
        // 36 independent products: one single-threaded sgemm each, spread over the pool.
        kernel.values.readPointer { transformed in
            let u = SendablePointer(UnsafeMutablePointer(mutating: transformed))
            let (kernelPlane, tilePlane) = (kernel.planeStride, ngk_winograd43_plane(c, count))
            let productPlane = ngk_winograd43_plane(o, count)
            let inPlace = count >= 16 && count <= context.winogradInPlaceProductTiles
            context.pool.parallelFor(each: 36) { k in
                if inPlace {
                    ngs_sgemm_nn(o, count, c, 1, u.base + k * kernelPlane, c, vs.base + k * tilePlane, count, 0,
                                 ms.base + k * productPlane, count)
                } else {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(count), Int32(c), 1,
                                u.base + k * kernelPlane, Int32(c), vs.base + k * tilePlane, Int32(count), 0,
                                ms.base + k * productPlane, Int32(count))
                }
            }
        }
        let shared = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        OpParallel.forEach(o, costPerItem: count * 300, context: context) { range in
            for (sample, first, length, column) in runs {
                ngk_winograd43_output(ms.base + column, count, range.lowerBound, range.upperBound, o, first, length,
                                      h, w, shared?.base, y.base + sample * o * h * w)
            }
        }
    }
}

/// A 3×3 kernel [O, C, 3, 3] in the Winograd F(4×4, 3×3) domain: 36 matrices [O, C], G g Gᵀ
/// of every output/input channel pair, 4× the kernel's f32 size.
public final class WinogradKernel: Sendable {
    public let outChannels: Int
    public let inChannels: Int
    /// Floats from one of the 36 matrices to the next: O·C and a cache line, so the transform's
    /// 36 stores per channel group do not share a cache set.
    let planeStride: Int
    /// 36 matrices [O, C], `planeStride` floats apart
    let values: Tensor

    public init(_ weight: Tensor, context: ExecutionContext) {
        precondition(weight.shape.count == 4 && weight.shape[2] == 3 && weight.shape[3] == 3, "WinogradKernel: weight \(weight.shape)")
        let (o, c) = (weight.shape[0], weight.shape[1])
        (outChannels, inChannels) = (o, c)
        let plane = Self.planeStride(outChannels: o, inChannels: c)
        planeStride = plane
        values = Tensor(shape: [36, plane]) { out in
            let target = SendablePointer(out.baseAddress!)
            weight.readPointer { w in
                OpParallel.forEach(o, costPerItem: 200 * c, context: context) { range in
                    ngk_winograd43_weight_rows(w + range.lowerBound * c * 9, c * 9, range.count, c, target.base + range.lowerBound * c, plane, c)
                }
            }
        }
    }

    /// The transform of a kernel stored as a matrix [O, C·9] of any type (quantized, repacked),
    /// dequantized a few rows at a time, so its f32 values never exist whole.
    public init(matrix: WeightMatrix, context: ExecutionContext) {
        precondition(matrix.columns % 9 == 0, "WinogradKernel: matrix [\(matrix.rows), \(matrix.columns)] is not a 3×3 kernel")
        let (o, c) = (matrix.rows, matrix.columns / 9)
        (outChannels, inChannels) = (o, c)
        let plane = Self.planeStride(outChannels: o, inChannels: c)
        planeStride = plane
        values = Tensor(shape: [36, plane]) { out in
            let target = SendablePointer(out.baseAddress!)
            let rowsPerStep = 16
            OpParallel.forEach(o, costPerItem: 200 * c, context: context) { range in
                let rows = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerStep * c * 9)
                defer { rows.deallocate() }
                for r0 in stride(from: range.lowerBound, to: range.upperBound, by: rowsPerStep) {
                    let count = min(rowsPerStep, range.upperBound - r0)
                    Matmul.dequantizeRows(matrix, row: r0, count: count, into: rows)
                    ngk_winograd43_weight_rows(rows, c * 9, count, c, target.base + r0 * c, plane, c)
                }
            }
        }
    }

    /// Bytes the transformed kernel holds.
    public var byteCount: Int { Self.byteCount(outChannels: outChannels, inChannels: inChannels) }

    /// Bytes the transform of an [O, C, 3, 3] kernel takes, before making it.
    public static func byteCount(outChannels: Int, inChannels: Int) -> Int {
        36 * planeStride(outChannels: outChannels, inChannels: inChannels) * MemoryLayout<Float>.size
    }

    static func planeStride(outChannels: Int, inChannels: Int) -> Int { ngk_winograd43_plane(outChannels, inChannels) }
}

extension Optional where Wrapped == [Float] {
    func withOptionalBaseAddress<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let self else { return body(nil) }
        return self.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
