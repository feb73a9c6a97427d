import COpenBLAS
import Foundation

/// Convolutions as PyTorch computes them (cross-correlation), through im2col + cblas_sgemm.
/// Inputs are [N, C, *spatial]; weights are PyTorch's [O, C/groups, *kernel] (transposed:
/// [C, O, K]); bias [O] or nil. The im2col column buffer is filled a tile of output positions at
/// a time so it stays below the context's `convolutionColumnBudget` floats whatever the image size; 1×1 stride-1 unpadded
/// convolutions skip im2col and multiply the input in place.
public enum Convolution {
    /// `F.conv1d(x, weight, bias, stride, padding, dilation, groups)`: x [N, C, L], weight [O, C/g, K].
    public static func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
                              dilation: Int = 1, groups: Int = 1, context: ExecutionContext) -> Tensor {
        precondition(x.rank == 3 && weight.rank == 3, "conv1d: input \(x.shape), weight \(weight.shape)")
        if stride == 1 && groups == 1 && weight.shape[2] > 1 && x.shape[1] >= tapsMinimumChannels && weight.shape[1] == x.shape[1] {
            if let bias { precondition(bias.count == weight.shape[0], "conv1d: bias \(bias.shape) for \(weight.shape[0]) outputs") }
            return conv1dByTaps(x, weight: weight, bias: bias, padding: padding, dilation: dilation, context: context)
        }
        let y = convNd(x.reshaped([x.shape[0], x.shape[1], 1, 1, x.shape[2]]),
                       weight: weight.reshaped([weight.shape[0], weight.shape[1], 1, 1, weight.shape[2]]), bias: bias,
                       stride: [1, 1, stride], padding: [0, 0, padding], dilation: [1, 1, dilation], groups: groups,
                       context: context)
        return y.reshaped([y.shape[0], y.shape[1], y.shape[4]])
    }

    /// `F.conv2d`: x [N, C, H, W], weight [O, C/g, kh, kw]; stride/padding/dilation as [h, w].
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                              dilation: [Int] = [1, 1], groups: Int = 1, context: ExecutionContext) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4, "conv2d: input \(x.shape), weight \(weight.shape)")
        if groups == 1 && dilation == [1, 1] && weight.shape[1] == x.shape[1]
            && useWinograd(channels: x.shape[1], kernel: Array(weight.shape[2...]), stride: stride, padding: padding,
                           height: x.shape[2], width: x.shape[3], context: context) {
            return winogradConv3x3(x, weight: weight, bias: bias, context: context)
        }
        let y = convNd(x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2], x.shape[3]]),
                       weight: weight.reshaped([weight.shape[0], weight.shape[1], 1, weight.shape[2], weight.shape[3]]),
                       bias: bias, stride: [1] + stride, padding: [0] + padding, dilation: [1] + dilation, groups: groups,
                       context: context)
        return y.reshaped([y.shape[0], y.shape[1], y.shape[3], y.shape[4]])
    }

    /// `F.conv3d`: x [N, C, T, H, W], weight [O, C/g, kt, kh, kw]; stride/padding/dilation as [t, h, w].
    public static func conv3d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int] = [1, 1, 1],
                              padding: [Int] = [0, 0, 0], dilation: [Int] = [1, 1, 1], groups: Int = 1,
                              context: ExecutionContext) -> Tensor {
        precondition(x.rank == 5 && weight.rank == 5, "conv3d: input \(x.shape), weight \(weight.shape)")
        return convNd(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
                      context: context)
    }

    /// The one implementation: 3 spatial dimensions (conv1d/2d use leading extents of 1).
    static func convNd(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int], padding: [Int], dilation: [Int],
                       groups: Int, context: ExecutionContext) -> Tensor {
        let n = x.shape[0], c = x.shape[1]
        let inS = Array(x.shape[2...]), k = Array(weight.shape[2...])
        let o = weight.shape[0]
        precondition(c % groups == 0 && o % groups == 0 && weight.shape[1] == c / groups,
                     "conv: input \(x.shape), weight \(weight.shape), groups \(groups)")
        if let bias { precondition(bias.count == o, "conv: bias \(bias.shape) for \(o) outputs") }
        var outS = [Int](repeating: 0, count: 3)
        for i in 0..<3 {
            let span: Int = dilation[i] * (k[i] - 1) + 1
            outS[i] = (inS[i] + 2 * padding[i] - span) / stride[i] + 1
        }
        precondition(outS.allSatisfy { $0 > 0 }, "conv: input \(x.shape) too small for kernel \(k)")
        let cg = c / groups, og = o / groups
        let kernelVolume = k.reduce(1, *), kc = cg * kernelVolume
        let p = outS.reduce(1, *), inVolume = inS.reduce(1, *)
        let pointwise = kernelVolume == 1 && stride.allSatisfy { $0 == 1 } && padding.allSatisfy { $0 == 0 }
        let tile = pointwise ? p : max(1, min(p, context.convolutionColumnBudget / max(kc, 1)))
        return Tensor(shape: [n, o] + outS) { out in
            let y = out.baseAddress!
            if let bias {
                bias.readPointer { b in
                    for i in 0..<(n * o) { (y + i * p).update(repeating: b[i % o], count: p) }
                }
            }
            let beta: Float = bias == nil ? 0 : 1
            let column = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: kc * tile)
            defer { column?.deallocate() }
            x.readPointer { src in
                weight.readPointer { w in
                    for b in 0..<n {
                        for g in 0..<groups {
                            let input = src + (b * c + g * cg) * inVolume
                            let wg = w + g * og * kc
                            let yg = y + (b * o + g * og) * p
                            if pointwise {
                                Kernels.sgemm(m: og, n: p, k: kc, a: wg, lda: kc, b: input, ldb: p, beta: beta, c: yg, ldc: p,
                                              context: context)
                                continue
                            }
                            var p0 = 0
                            while p0 < p {
                                let pc = min(tile, p - p0)
                                im2col(input, inS: inS, outS: outS, k: k, stride: stride, padding: padding,
                                       dilation: dilation, rows: kc, first: p0, count: pc, into: column!, context: context)
                                Kernels.sgemm(m: og, n: pc, k: kc, a: wg, lda: kc, b: column!, ldb: pc, beta: beta,
                                              c: yg + p0, ldc: p, context: context)
                                p0 += pc
                            }
                        }
                    }
                }
            }
        }
    }

    /// Columns `first..<first+count` of the im2col matrix [rows = C·kt·kh·kw, outputs] of one
    /// sample/group, written as [rows, count].
    static func im2col(_ input: UnsafePointer<Float>, inS: [Int], outS: [Int], k: [Int], stride: [Int], padding: [Int],
                       dilation: [Int], rows: Int, first: Int, count: Int, into column: UnsafeMutablePointer<Float>,
                       context: ExecutionContext) {
        let (id0, ih0, iw0) = (inS[0], inS[1], inS[2])
        let (oh, ow) = (outS[1], outS[2])
        let (kd, kh, kw) = (k[0], k[1], k[2])
        let (sd, sh, sw) = (stride[0], stride[1], stride[2])
        let (pd, ph, pw) = (padding[0], padding[1], padding[2])
        let (dd, dh, dw) = (dilation[0], dilation[1], dilation[2])
        let col = SendablePointer(column)
        OpParallel.forEach(rows, costPerItem: count, context: context) { range in
            for r in range {
                let ch = r / (kd * kh * kw)
                let a = (r / (kh * kw)) % kd, bb = (r / kw) % kh, e = r % kw
                let plane = input + ch * id0 * ih0 * iw0
                let dst = col.base + r * count
                var z = first / (oh * ow), yy = (first / ow) % oh, xx = first % ow
                var j = 0
                while j < count {
                    // one output row segment (fixed z, yy): xx runs to the row end or the tile end
                    let run = min(ow - xx, count - j)
                    let iz = z * sd - pd + a * dd, iy = yy * sh - ph + bb * dh
                    if iz < 0 || iz >= id0 || iy < 0 || iy >= ih0 {
                        (dst + j).update(repeating: 0, count: run)
                    } else {
                        let line = plane + (iz * ih0 + iy) * iw0
                        var ix = xx * sw - pw + e * dw
                        if sw == 1 && ix >= 0 && ix + run <= iw0 {
                            (dst + j).update(from: line + ix, count: run)
                        } else {
                            for t in 0..<run {
                                dst[j + t] = (ix >= 0 && ix < iw0) ? line[ix] : 0
                                ix += sw
                            }
                        }
                    }
                    j += run
                    xx += run
                    if xx == ow { xx = 0; yy += 1; if yy == oh { yy = 0; z += 1 } }
                }
            }
        }
    }

    /// `F.conv_transpose1d(x, weight, bias, stride, padding, output_padding, groups, dilation)`:
    /// x [N, Cin, L], weight [Cin, Cout/groups, K] →
    /// [N, Cout, (L−1)·stride − 2·padding + dilation·(K−1) + outputPadding + 1]. Per group, Wᵀ·x
    /// (the pool's sgemm over bounded tiles of input positions) followed by col2im scatter-adds.
    public static func convTranspose1d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
                                       outputPadding: Int = 0, groups: Int = 1, dilation: Int = 1,
                                       context: ExecutionContext) -> Tensor {
        precondition(x.rank == 3 && weight.rank == 3 && weight.shape[0] == x.shape[1] && groups >= 1 && x.shape[1] % groups == 0,
                     "convTranspose1d: input \(x.shape), weight \(weight.shape), groups \(groups)")
        precondition(stride >= 1 && dilation >= 1 && padding >= 0 && outputPadding >= 0
                     && outputPadding < max(stride, dilation),
                     "convTranspose1d: stride \(stride), padding \(padding), output padding \(outputPadding), dilation \(dilation)")
        let n = x.shape[0], cin = x.shape[1], l = x.shape[2]
        let cinG = cin / groups, coutG = weight.shape[1], cout = coutG * groups, k = weight.shape[2]
        if let bias { precondition(bias.count == cout, "convTranspose1d: bias \(bias.shape) for \(cout) outputs") }
        let lout = (l - 1) * stride - 2 * padding + dilation * (k - 1) + outputPadding + 1
        precondition(lout > 0, "convTranspose1d: empty output")
        let rows = coutG * k
        let tile = max(1, min(l, context.convolutionColumnBudget / max(rows, 1)))
        return Tensor(shape: [n, cout, lout]) { out in
            let y = SendablePointer(out.baseAddress!)
            if let bias {
                bias.readPointer { b in
                    for i in 0..<(n * cout) { (y.base + i * lout).update(repeating: b[i % cout], count: lout) }
                }
            } else {
                y.base.update(repeating: 0, count: n * cout * lout)
            }
            let column = SendablePointer(UnsafeMutablePointer<Float>.allocate(capacity: rows * tile))
            defer { column.base.deallocate() }
            x.readPointer { src in
                weight.readPointer { w in
                    for b in 0..<n {
                        for g in 0..<groups {
                            // group g: input channels g·cinG..<, weight rows likewise, output channels g·coutG..<
                            let wg = w + g * cinG * rows, xg = src + (b * cin + g * cinG) * l
                            var l0 = 0
                            while l0 < l {
                                let lc = min(tile, l - l0)
                                Kernels.sgemm(transA: true, m: rows, n: lc, k: cinG, a: wg, lda: rows, b: xg + l0, ldb: l,
                                              c: column.base, ldc: lc, context: context)
                                // each output channel owns its output row: channels in parallel
                                OpParallel.forEach(coutG, costPerItem: k * lc, context: context) { range in
                                    for oc in range {
                                        let dst = y.base + (b * cout + g * coutG + oc) * lout
                                        for kk in 0..<k {
                                            let colRow = column.base + (oc * k + kk) * lc
                                            for i in 0..<lc {
                                                let t = (l0 + i) * stride - padding + kk * dilation
                                                if t >= 0 && t < lout { dst[t] += colRow[i] }
                                            }
                                        }
                                    }
                                }
                                l0 += lc
                            }
                        }
                    }
                }
            }
        }
    }

    /// `F.interpolate(x, scale_factor:, mode="nearest")` on x [N, C, H, W] (output floor(H·s) × floor(W·s)).
    public static func upsampleNearest2d(_ x: Tensor, scaleFactor: Float, context: ExecutionContext) -> Tensor {
        precondition(x.rank == 4, "upsampleNearest2d: input \(x.shape)")
        let size = [Int((Float(x.shape[2]) * scaleFactor).rounded(.down)), Int((Float(x.shape[3]) * scaleFactor).rounded(.down))]
        return nearest(x, size: size, scales: [scaleFactor, scaleFactor], context: context)
    }

    /// `F.interpolate(x, size: (h, w), mode="nearest")` on x [N, C, H, W] (diffusers' Upsample2D for odd latents).
    public static func upsampleNearest2d(_ x: Tensor, size: [Int], context: ExecutionContext) -> Tensor {
        precondition(x.rank == 4 && size.count == 2, "upsampleNearest2d: input \(x.shape), size \(size)")
        return nearest(x, size: size, scales: nil, context: context)
    }

    /// PyTorch's legacy nearest index: `min(floor(dst · scale), in − 1)` in f32, scale = 1/s when
    /// a scale factor was given, in/out otherwise; exact 1× and 2× are special-cased as ATen does.
    static func nearestIndex(_ dst: Int, input: Int, output: Int, scale: Float?) -> Int {
        if output == input { return dst }
        if output == 2 * input { return dst >> 1 }
        let s: Float = scale.map { $0 > 0 ? Float(1.0 / Double($0)) : Float(input) / Float(output) } ?? Float(input) / Float(output)
        return min(Int((Float(dst) * s).rounded(.down)), input - 1)
    }

    static func nearest(_ x: Tensor, size: [Int], scales: [Float]?, context: ExecutionContext) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (size[0], size[1])
        let rowsIndex = (0..<oh).map { nearestIndex($0, input: h, output: oh, scale: scales?[0]) }
        let colsIndex = (0..<ow).map { nearestIndex($0, input: w, output: ow, scale: scales?[1]) }
        return Tensor(shape: [n, c, oh, ow]) { out in
            let dst = SendablePointer(out.baseAddress!)
            x.readPointer { src in
                colsIndex.withUnsafeBufferPointer { cols in
                    OpParallel.forEach(n * c, costPerItem: oh * ow, context: context) { range in
                        for plane in range {
                            for yy in 0..<oh {
                                let line = src + (plane * h + rowsIndex[yy]) * w
                                let o = dst.base + (plane * oh + yy) * ow
                                for xx in 0..<ow { o[xx] = line[cols[xx]] }
                            }
                        }
                    }
                }
            }
        }
    }
}
