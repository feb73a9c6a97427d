import CNextGPTKernels
import Foundation

extension Convolution {
    /// `F.conv2d` with the kernel as a kernel-layer matrix [O, C·kh·kw] of any container type
    /// (quantized convolutions are stored that way). Output positions are gathered into patch
    /// rows ("im2row": one row of C·kh·kw values per output position, a bounded tile at a time)
    /// and multiplied by `Matmul`, which picks integer kernels or dequantized panels + sgemm by
    /// batch (`context.matmulPath` decides, so `.blas` keeps f32 activations here too); the
    /// [positions, O] tile is then written back channel-major. Repacked Q8_0 kernels on AVX-512
    /// VNNI contexts take the lane GEMM instead (`conv2dLanes`: patches quantized panel by panel,
    /// output written channel-major by the kernel).
    public static func conv2d(_ x: Tensor, matrix: WeightMatrix, kernel: [Int], bias: Tensor?,
                              stride: [Int] = [1, 1], padding: [Int] = [0, 0], context: ExecutionContext) -> Tensor {
        precondition(x.rank == 4 && kernel.count == 2 && matrix.columns == x.shape[1] * kernel[0] * kernel[1],
                     "conv2d: input \(x.shape) with a \(matrix.rows)×\(matrix.columns) kernel matrix of \(kernel)")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw) = (kernel[0], kernel[1])
        let oh = (h + 2 * padding[0] - kh) / stride[0] + 1, ow = (w + 2 * padding[1] - kw) / stride[1] + 1
        precondition(oh > 0 && ow > 0, "conv2d: input \(x.shape) too small for kernel \(kernel)")
        let o = matrix.rows, kc = matrix.columns, p = oh * ow
        if let bias { precondition(bias.count == o, "conv2d: bias \(bias.shape) for \(o) outputs") }
        if kh * kw <= Int(NGK_LANES_MAX_TAPS)
            && Matmul.prefersLaneGEMM(matrix, batch: p, context: context) {
            return conv2dLanes(x, matrix: matrix, kernel: kernel, bias: bias, stride: stride, padding: padding, context: context)
        }
        let tile = max(1, min(p, context.convolutionColumnBudget / max(kc, o)))
        let geometry = PatchGeometry(c: c, h: h, w: w, kh: kh, kw: kw, ow: ow, stride: stride, padding: padding)
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: tile * kc)
        let products = UnsafeMutablePointer<Float>.allocate(capacity: tile * o)
        defer { rows.deallocate(); products.deallocate() }
        return Tensor(shape: [n, o, oh, ow]) { out in
            let y = out.baseAddress!
            x.readPointer { src in
                for b in 0..<n {
                    let input = src + b * c * h * w
                    var p0 = 0
                    while p0 < p {
                        let count = min(tile, p - p0)
                        geometry.gather(input, first: p0, count: count, into: rows, context: context)
                        Matmul.multiply(matrix, rows, batch: count, into: products, context: context)
                        scatterChannelMajor(products, count: count, channels: o, bias: bias, into: y + b * o * p + p0, stride: p,
                                            context: context)
                        p0 += count
                    }
                }
            }
        }
    }

    /// [count, channels] → channel-major rows of length `stride` (plus bias).
    static func scatterChannelMajor(_ products: UnsafeMutablePointer<Float>, count: Int, channels: Int, bias: Tensor?,
                                    into y: UnsafeMutablePointer<Float>, stride: Int, context: ExecutionContext) {
        let dst = SendablePointer(y), tileValues = SendablePointer(products)
        let biasValues = bias?.values
        OpParallel.forEach(channels, costPerItem: count, context: context) { range in
            for ch in range {
                let line = dst.base + ch * stride
                let shift = biasValues?[ch] ?? 0
                var i = 0
                while i < count { line[i] = tileValues.base[i * channels + ch] + shift; i += 1 }
            }
        }
    }

    /// Where each patch value of a 2-D convolution comes from.
    struct PatchGeometry {
        let c, h, w, kh, kw, ow: Int
        let stride: [Int], padding: [Int]

        /// Patch rows of output positions `first..<first+count`, each [C, kh, kw] (PyTorch's
        /// weight order), zeros outside the image.
        func gather(_ input: UnsafePointer<Float>, first: Int, count: Int, into rows: UnsafeMutablePointer<Float>,
                    context: ExecutionContext) {
            let kc = c * kh * kw
            let dst = SendablePointer(rows)
            let (sh, sw, ph, pw) = (stride[0], stride[1], padding[0], padding[1])
            let (c, h, w, kh, kw, ow) = (c, h, w, kh, kw, ow)
            OpParallel.forEach(count, costPerItem: kc, context: context) { range in
                for i in range {
                    let position = first + i
                    let oy = position / ow, ox = position % ow
                    var row = dst.base + i * kc
                    for ch in 0..<c {
                        let plane = input + ch * h * w
                        for ky in 0..<kh {
                            let iy = oy * sh - ph + ky
                            if iy < 0 || iy >= h {
                                row.update(repeating: 0, count: kw)
                            } else {
                                let line = plane + iy * w
                                let ix0 = ox * sw - pw
                                for kx in 0..<kw {
                                    let ix = ix0 + kx
                                    row[kx] = (ix >= 0 && ix < w) ? line[ix] : 0
                                }
                            }
                            row += kw
                        }
                    }
                }
            }
        }
    }
}
