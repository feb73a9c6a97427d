import COpenBLAS
import Foundation

/// Plain, obviously-correct f32 versions of the ops the verify calls need, used until the
/// runtime's own ops exist (then each call switches to them: see the TODO at each). Shapes and
/// semantics are PyTorch's (torch.nn.functional).
enum VerifyOps {
    struct ShapeError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    // TODO: use Ops.linear / Matmul.multiply(WeightMatrix, x, batch:, into:) once they exist,
    // so the probe measures the kernels the model runs with.
    /// y = x Wᵀ + b; x [..., in], W [out, in].
    static func linear(_ x: Tensor, weight w: Tensor, bias b: Tensor?) throws -> Tensor {
        guard w.rank == 2 else { throw ShapeError("linear weight must be 2-D, got \(w.shape)") }
        let (outF, inF) = (w.shape[0], w.shape[1])
        guard let last = x.shape.last, last == inF else { throw ShapeError("linear input \(x.shape) does not end in \(inF)") }
        if let b, b.count != outF { throw ShapeError("linear bias \(b.shape) for \(outF) outputs") }
        let rows = x.count / max(inF, 1)
        var y = Tensor(zeros: Array(x.shape.dropLast()) + [outF])
        y.withUnsafeMutableBufferPointer { yp in
            x.withUnsafeBufferPointer { xp in
                w.withUnsafeBufferPointer { wp in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outF), Int32(inF),
                                1, xp.baseAddress, Int32(inF), wp.baseAddress, Int32(inF), 0, yp.baseAddress, Int32(outF))
                }
            }
            if let b {
                b.withUnsafeBufferPointer { bp in
                    for r in 0..<rows { for o in 0..<outF { yp[r * outF + o] += bp[o] } }
                }
            }
        }
        return y
    }

    // TODO: use Ops.conv1d / Ops.conv2d / Ops.conv3d once they exist.
    /// Convolution over `spatial` (1, 2 or 3) dimensions by im2col + sgemm per sample and group.
    /// x [N, C, *s], w [O, C/groups, *k], zero padding on both sides.
    static func convolution(_ x: Tensor, weight w: Tensor, bias b: Tensor?, spatial: Int,
                            stride: [Int], padding: [Int], dilation: [Int], groups: Int) throws -> Tensor {
        guard x.rank == spatial + 2, w.rank == spatial + 2 else {
            throw ShapeError("conv\(spatial)d needs input [N, C, \(spatial) dims] and weight [O, C/g, \(spatial) dims]; got \(x.shape), \(w.shape)")
        }
        guard [stride, padding, dilation].allSatisfy({ $0.count == spatial }) else {
            throw ShapeError("conv\(spatial)d stride/padding/dilation need \(spatial) values")
        }
        let (n, c, o) = (x.shape[0], x.shape[1], w.shape[0])
        guard groups >= 1, c % groups == 0, o % groups == 0, w.shape[1] == c / groups else {
            throw ShapeError("conv\(spatial)d: input channels \(c), weight \(w.shape), groups \(groups) do not agree")
        }
        if let b, b.count != o { throw ShapeError("conv bias \(b.shape) for \(o) output channels") }
        // Pad everything to 3 spatial dimensions (leading extents of 1).
        let lead = 3 - spatial
        let inS = [Int](repeating: 1, count: lead) + Array(x.shape[2...])
        let kS = [Int](repeating: 1, count: lead) + Array(w.shape[2...])
        let st = [Int](repeating: 1, count: lead) + stride
        let pd = [Int](repeating: 0, count: lead) + padding
        let dl = [Int](repeating: 1, count: lead) + dilation
        var outS = [Int](repeating: 0, count: 3)
        for d in 0..<3 {
            let span = dl[d] * (kS[d] - 1) + 1
            outS[d] = (inS[d] + 2 * pd[d] - span) / st[d] + 1
            guard st[d] >= 1, inS[d] + 2 * pd[d] >= span else {
                throw ShapeError("conv\(spatial)d: kernel \(Array(w.shape[2...])) does not fit input \(Array(x.shape[2...])) with that padding/dilation")
            }
        }
        let cg = c / groups, og = o / groups
        let kernelVolume = kS[0] * kS[1] * kS[2]
        let rowsK = cg * kernelVolume
        let cols = outS[0] * outS[1] * outS[2]
        let inVolume = inS[0] * inS[1] * inS[2]
        var column = [Float](repeating: 0, count: rowsK * cols)
        var y = Tensor(zeros: [n, o] + Array(outS[lead...]))
        y.withUnsafeMutableBufferPointer { yp in
            x.withUnsafeBufferPointer { xp in
                w.withUnsafeBufferPointer { wp in
                    for s in 0..<n {
                        for g in 0..<groups {
                            // im2col: row (ci, kt, kh, kw), column (ot, oh, ow)
                            column.withUnsafeMutableBufferPointer { col in
                                for ci in 0..<cg {
                                    let plane = (s * c + g * cg + ci) * inVolume
                                    for kt in 0..<kS[0] { for kh in 0..<kS[1] { for kw in 0..<kS[2] {
                                        let row = ((ci * kS[0] + kt) * kS[1] + kh) * kS[2] + kw
                                        var index = row * cols
                                        for ot in 0..<outS[0] {
                                            let it = ot * st[0] - pd[0] + kt * dl[0]
                                            for oh in 0..<outS[1] {
                                                let ih = oh * st[1] - pd[1] + kh * dl[1]
                                                for ow in 0..<outS[2] {
                                                    let iw = ow * st[2] - pd[2] + kw * dl[2]
                                                    if it >= 0, it < inS[0], ih >= 0, ih < inS[1], iw >= 0, iw < inS[2] {
                                                        col[index] = xp[plane + (it * inS[1] + ih) * inS[2] + iw]
                                                    } else {
                                                        col[index] = 0
                                                    }
                                                    index += 1
                                                }
                                            }
                                        }
                                    } } }
                                }
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(og), Int32(cols), Int32(rowsK), 1,
                                            wp.baseAddress! + g * og * rowsK, Int32(rowsK), col.baseAddress, Int32(cols), 0,
                                            yp.baseAddress! + (s * o + g * og) * cols, Int32(cols))
                            }
                        }
                        if let b {
                            b.withUnsafeBufferPointer { bp in
                                for oc in 0..<o { for i in 0..<cols { yp[(s * o + oc) * cols + i] += bp[oc] } }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    // TODO: use Ops.groupNorm once it exists.
    /// x [N, C, *]; statistics over (C/groups, *) per sample and group; optional per-channel affine.
    static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
        guard x.rank >= 2 else { throw ShapeError("group_norm input must be [N, C, …], got \(x.shape)") }
        let (n, c) = (x.shape[0], x.shape[1])
        guard groups >= 1, c % groups == 0 else { throw ShapeError("group_norm: \(c) channels not divisible into \(groups) groups") }
        for t in [weight, bias].compactMap({ $0 }) where t.count != c { throw ShapeError("group_norm affine \(t.shape) for \(c) channels") }
        let inner = x.count / max(n * c, 1)
        let perGroup = c / groups * inner
        var y = x
        let w = weight?.values, b = bias?.values
        y.withUnsafeMutableBufferPointer { p in
            for s in 0..<n {
                for g in 0..<groups {
                    let start = (s * groups + g) * perGroup
                    let (mean, invStd) = moments(p, start: start, count: perGroup, eps: eps)
                    for i in 0..<perGroup {
                        let ch = g * (c / groups) + i / inner
                        var v = (Double(p[start + i]) - mean) * invStd
                        if let w { v *= Double(w[ch]) }
                        if let b { v += Double(b[ch]) }
                        p[start + i] = Float(v)
                    }
                }
            }
        }
        return y
    }

    // TODO: use Ops.layerNorm once it exists.
    /// Normalizes over the last `normalizedDims` dimensions; weight/bias have their shape.
    static func layerNorm(_ x: Tensor, normalizedDims: Int, weight: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
        guard normalizedDims >= 1, normalizedDims <= x.rank else { throw ShapeError("layer_norm over \(normalizedDims) dims of \(x.shape)") }
        let inner = x.shape.suffix(normalizedDims).reduce(1, *)
        for t in [weight, bias].compactMap({ $0 }) where t.count != inner { throw ShapeError("layer_norm affine \(t.shape) for \(x.shape.suffix(normalizedDims))") }
        let w = weight?.values, b = bias?.values
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for r in 0..<(x.count / max(inner, 1)) {
                let (mean, invStd) = moments(p, start: r * inner, count: inner, eps: eps)
                for i in 0..<inner {
                    var v = (Double(p[r * inner + i]) - mean) * invStd
                    if let w { v *= Double(w[i]) }
                    if let b { v += Double(b[i]) }
                    p[r * inner + i] = Float(v)
                }
            }
        }
        return y
    }

    // TODO: use Ops.rmsNorm once it exists.
    /// x · rsqrt(mean(x²) + eps) · weight over the last dimension (LLaMA, torch.nn.functional.rms_norm).
    static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Double) throws -> Tensor {
        guard let inner = x.shape.last, inner > 0 else { throw ShapeError("rms_norm of \(x.shape)") }
        if let weight, weight.count != inner { throw ShapeError("rms_norm weight \(weight.shape) for last dimension \(inner)") }
        let w = weight?.values
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for r in 0..<(x.count / inner) {
                var sum = 0.0
                for i in 0..<inner { let v = Double(p[r * inner + i]); sum += v * v }
                let scale = 1 / (sum / Double(inner) + eps).squareRoot()
                for i in 0..<inner {
                    var v = Double(p[r * inner + i]) * scale
                    if let w { v *= Double(w[i]) }
                    p[r * inner + i] = Float(v)
                }
            }
        }
        return y
    }

    private static func moments(_ p: UnsafeMutableBufferPointer<Float>, start: Int, count: Int, eps: Double) -> (Double, Double) {
        var sum = 0.0
        for i in 0..<count { sum += Double(p[start + i]) }
        let mean = sum / Double(count)
        var sq = 0.0
        for i in 0..<count { let d = Double(p[start + i]) - mean; sq += d * d }
        return (mean, 1 / (sq / Double(count) + eps).squareRoot())
    }

    // TODO: use Ops.softmax once it exists.
    static func softmax(_ x: Tensor, dim: Int) throws -> Tensor {
        let d = dim < 0 ? dim + x.rank : dim
        guard d >= 0, d < x.rank else { throw ShapeError("softmax dim \(dim) out of range for \(x.shape)") }
        let size = x.shape[d]
        let inner = x.shape[(d + 1)...].reduce(1, *)
        let outer = x.shape[..<d].reduce(1, *)
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * size * inner + i
                    var m = -Float.infinity
                    for k in 0..<size { m = max(m, p[base + k * inner]) }
                    var sum = 0.0
                    for k in 0..<size { sum += Double(expf(p[base + k * inner] - m)) }
                    for k in 0..<size { p[base + k * inner] = Float(Double(expf(p[base + k * inner] - m)) / sum) }
                }
            }
        }
        return y
    }

    // TODO: use Ops.gelu once it exists.
    static func gelu(_ x: Tensor, tanhApproximation: Bool) -> Tensor {
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for i in p.indices {
                let v = Double(p[i])
                if tanhApproximation {
                    p[i] = Float(0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))))
                } else {
                    p[i] = Float(0.5 * v * (1 + erf(v / 2.0.squareRoot())))
                }
            }
        }
        return y
    }

    // TODO: use Ops.silu once it exists.
    static func silu(_ x: Tensor) -> Tensor {
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for i in p.indices { let v = Double(p[i]); p[i] = Float(v / (1 + exp(-v))) }
        }
        return y
    }

    // TODO: use Ops.attention once it exists.
    /// Scaled dot-product attention as torch.nn.functional.scaled_dot_product_attention:
    /// q [B, H, L, D], k [B, Hk, S, D], v [B, Hk, S, Dv] with H a multiple of Hk (grouped-query
    /// heads share k/v head h / (H / Hk)); causal masks key j > query i (top-left aligned).
    static func attention(q: Tensor, k: Tensor, v: Tensor, causal: Bool, scale: Double?) throws -> Tensor {
        guard q.rank == 4, k.rank == 4, v.rank == 4 else { throw ShapeError("attention needs q, k, v of rank 4 [B, H, L, D]; got \(q.shape), \(k.shape), \(v.shape)") }
        let (b, h, l, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hk, s, dv) = (k.shape[1], k.shape[2], v.shape[3])
        guard k.shape[0] == b, v.shape[0] == b, k.shape[3] == d, v.shape[1] == hk, v.shape[2] == s, hk >= 1, h % hk == 0 else {
            throw ShapeError("attention shapes q \(q.shape), k \(k.shape), v \(v.shape) do not agree")
        }
        let sc = Float(scale ?? 1 / Double(d).squareRoot())
        var out = Tensor(zeros: [b, h, l, dv])
        var scores = [Float](repeating: 0, count: l * s)
        out.withUnsafeMutableBufferPointer { op in
            q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                scores.withUnsafeMutableBufferPointer { sp in
                    for bi in 0..<b {
                        for hi in 0..<h {
                            let kvh = hi / (h / hk)
                            let qBase = qp.baseAddress! + (bi * h + hi) * l * d
                            let kBase = kp.baseAddress! + (bi * hk + kvh) * s * d
                            let vBase = vp.baseAddress! + (bi * hk + kvh) * s * dv
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(l), Int32(s), Int32(d), sc,
                                        qBase, Int32(d), kBase, Int32(d), 0, sp.baseAddress, Int32(s))
                            for i in 0..<l {
                                let row = sp.baseAddress! + i * s
                                var m = -Float.infinity
                                for j in 0..<s where !(causal && j > i) { m = max(m, row[j]) }
                                var sum = 0.0
                                for j in 0..<s {
                                    if (causal && j > i) || m == -Float.infinity { row[j] = 0; continue }
                                    row[j] = expf(row[j] - m)
                                    sum += Double(row[j])
                                }
                                if sum > 0 { for j in 0..<s { row[j] = Float(Double(row[j]) / sum) } }
                            }
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(l), Int32(dv), Int32(s), 1,
                                        sp.baseAddress, Int32(s), vBase, Int32(dv), 0,
                                        op.baseAddress! + (bi * h + hi) * l * dv, Int32(dv))
                        }
                    }
                }
            } } }
        }
        return out
    }
}
