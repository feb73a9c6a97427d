import COpenBLAS
import Foundation

/// Stride-1 1-D convolutions (the vocoder's dilated resblock convolutions) as a sum over kernel
/// taps: y = Σⱼ Wⱼ · x[:, j·dilation …], each term one sgemm reading a shifted window of the
/// once-padded input in place (ldb = the padded length), so no im2col matrix is written. Each
/// thread owns a strip of output positions and runs every tap on it, so the strip of y stays in
/// its cache across the K accumulations.
extension Convolution {
    /// Channels from which the taps path beats im2col (below, K·C rows make the better product).
    static let tapsMinimumChannels = 128

    static func conv1dByTaps(_ x: Tensor, weight: Tensor, bias: Tensor?, padding: Int, dilation: Int,
                             context: ExecutionContext) -> Tensor {
        let (n, c, length) = (x.shape[0], x.shape[1], x.shape[2])
        let (o, k) = (weight.shape[0], weight.shape[2])
        let padded = length + 2 * padding
        let outLength = padded - dilation * (k - 1)
        precondition(outLength > 0, "conv1d: input \(x.shape) too small for kernel \(k) at dilation \(dilation)")
        // Wⱼ [O, C] for each tap j, from PyTorch's [O, C, K].
        let taps = UnsafeMutablePointer<Float>.allocate(capacity: k * o * c)
        defer { taps.deallocate() }
        weight.readPointer { w in
            let (src, dst) = (SendablePointer(UnsafeMutablePointer(mutating: w)), SendablePointer(taps))
            OpParallel.forEach(o, costPerItem: c * k, context: context) { rows in
                for row in rows {
                    for ch in 0..<c {
                        let from = src.base + (row * c + ch) * k
                        for j in 0..<k { dst.base[(j * o + row) * c + ch] = from[j] }
                    }
                }
            }
        }
        let input = UnsafeMutablePointer<Float>.allocate(capacity: c * padded)
        defer { input.deallocate() }
        // A strip's y block (O × strip floats) sized to stay in a core's L2 across the taps.
        let fitsCache = max(64, ((1 << 17) / max(o, 1)) / 16 * 16)
        let strip = max(16, min(fitsCache, (outLength + context.pool.threads - 1) / context.pool.threads))
        let strips = (outLength + strip - 1) / strip
        return Tensor(shape: [n, o, outLength]) { out in
            let y = SendablePointer(out.baseAddress!)
            let (xin, w) = (SendablePointer(input), SendablePointer(taps))
            x.readPointer { src in
                for b in 0..<n {
                    let sample = src + b * c * length
                    OpParallel.forEach(c, costPerItem: padded, context: context) { channels in
                        for ch in channels {
                            let row = xin.base + ch * padded
                            row.update(repeating: 0, count: padding)
                            row.advanced(by: padding).update(from: sample + ch * length, count: length)
                            row.advanced(by: padding + length).update(repeating: 0, count: padding)
                        }
                    }
                    let yb = y.base + b * o * outLength
                    context.pool.parallelFor(each: strips) { s in
                        let t0 = s * strip, count = min(strip, outLength - t0)
                        if let bias {
                            bias.readPointer { bv in
                                for row in 0..<o { (yb + row * outLength + t0).update(repeating: bv[row], count: count) }
                            }
                        }
                        for j in 0..<k {
                            let beta: Float = (j == 0 && bias == nil) ? 0 : 1
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(count), Int32(c), 1,
                                        w.base + j * o * c, Int32(c), xin.base + j * dilation + t0, Int32(padded), beta,
                                        yb + t0, Int32(outLength))
                        }
                    }
                }
            }
        }
    }
}
