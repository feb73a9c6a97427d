import COpenBLAS
import Foundation

/// The verify calls' bridge to the runtime ops (Sources/NextGPTRuntime/Ops): shapes and arguments
/// are checked here first, so a bad probe fails with a message instead of tripping an op's
/// precondition, then the runtime's own op runs, since that is what a probe must measure.
/// Shapes and semantics are PyTorch's (torch.nn.functional).
enum VerifyOps {
    struct ShapeError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// `F.linear` through `Linear.linear(_:weight: Weight, …)`, the entry point that will hand
    /// quantized weights to the kernel layer.
    static func linear(_ x: Tensor, weight w: Weight, bias b: Tensor?) throws -> Tensor {
        guard w.shape.count == 2 else { throw ShapeError("linear weight \(w.name) must be 2-D, got \(w.shape)") }
        let (outF, inF) = (w.shape[0], w.shape[1])
        guard let last = x.shape.last, last == inF else { throw ShapeError("linear input \(x.shape) does not end in \(inF)") }
        if let b, b.count != outF { throw ShapeError("linear bias \(b.shape) for \(outF) outputs") }
        return Linear.linear(x, weight: w, bias: b)
    }

    /// `F.conv1d/2d/3d` through `Convolution`, after checking what its preconditions assume.
    static func convolution(_ x: Tensor, weight w: Tensor, bias b: Tensor?, spatial: Int,
                            stride: [Int], padding: [Int], dilation: [Int], groups: Int) throws -> Tensor {
        guard x.rank == spatial + 2, w.rank == spatial + 2 else {
            throw ShapeError("conv\(spatial)d needs input [N, C, \(spatial) dims] and weight [O, C/g, \(spatial) dims]; got \(x.shape), \(w.shape)")
        }
        guard [stride, padding, dilation].allSatisfy({ $0.count == spatial }) else {
            throw ShapeError("conv\(spatial)d stride/padding/dilation need \(spatial) values")
        }
        let (c, o) = (x.shape[1], w.shape[0])
        guard groups >= 1, c % groups == 0, o % groups == 0, w.shape[1] == c / groups else {
            throw ShapeError("conv\(spatial)d: input channels \(c), weight \(w.shape), groups \(groups) do not agree")
        }
        if let b, b.count != o { throw ShapeError("conv bias \(b.shape) for \(o) output channels") }
        for d in 0..<spatial {
            let (size, k) = (x.shape[2 + d], w.shape[2 + d])
            guard stride[d] >= 1, dilation[d] >= 1, padding[d] >= 0, size + 2 * padding[d] >= dilation[d] * (k - 1) + 1 else {
                throw ShapeError("conv\(spatial)d: kernel \(Array(w.shape[2...])) does not fit input \(Array(x.shape[2...])) with stride \(stride), padding \(padding), dilation \(dilation)")
            }
        }
        switch spatial {
        case 1: return Convolution.conv1d(x, weight: w, bias: b, stride: stride[0], padding: padding[0], dilation: dilation[0], groups: groups)
        case 2: return Convolution.conv2d(x, weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
        default: return Convolution.conv3d(x, weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
    }

    static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
        guard x.rank >= 2 else { throw ShapeError("group_norm input must be [N, C, …], got \(x.shape)") }
        let c = x.shape[1]
        guard groups >= 1, c % groups == 0 else { throw ShapeError("group_norm: \(c) channels not divisible into \(groups) groups") }
        for t in [weight, bias].compactMap({ $0 }) where t.count != c { throw ShapeError("group_norm affine \(t.shape) for \(c) channels") }
        return Normalization.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: Float(eps))
    }

    /// Over the last `normalizedDims` dimensions: those are flattened into one, which is what
    /// `Normalization.layerNorm` (last dimension) normalizes.
    static func layerNorm(_ x: Tensor, normalizedDims: Int, weight: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
        guard normalizedDims >= 1, normalizedDims <= x.rank else { throw ShapeError("layer_norm over \(normalizedDims) dims of \(x.shape)") }
        let inner = x.shape.suffix(normalizedDims).reduce(1, *)
        guard inner > 0 else { throw ShapeError("layer_norm of \(x.shape)") }
        for t in [weight, bias].compactMap({ $0 }) where t.count != inner { throw ShapeError("layer_norm affine \(t.shape) for \(x.shape.suffix(normalizedDims))") }
        let flat = x.reshaped(Array(x.shape.dropLast(normalizedDims)) + [inner])
        return Normalization.layerNorm(flat, weight: weight?.reshaped([inner]), bias: bias?.reshaped([inner]), eps: Float(eps))
            .reshaped(x.shape)
    }

    static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Double) throws -> Tensor {
        guard let inner = x.shape.last, inner > 0 else { throw ShapeError("rms_norm of \(x.shape)") }
        if let weight, weight.count != inner { throw ShapeError("rms_norm weight \(weight.shape) for last dimension \(inner)") }
        return Normalization.rmsNorm(x, weight: weight, eps: Float(eps))
    }

    /// Any dimension: moved last, `Activations.softmax`, moved back.
    static func softmax(_ x: Tensor, dim: Int) throws -> Tensor {
        let d = dim < 0 ? dim + x.rank : dim
        guard d >= 0, d < x.rank else { throw ShapeError("softmax dim \(dim) out of range for \(x.shape)") }
        if d == x.rank - 1 { return Activations.softmax(x) }
        return Shape.transpose(Activations.softmax(Shape.transpose(x, d, x.rank - 1)), d, x.rank - 1)
    }

    static func gelu(_ x: Tensor, tanhApproximation: Bool) -> Tensor {
        Activations.gelu(x, approximate: tanhApproximation ? .tanh : .none)
    }

    static func silu(_ x: Tensor) -> Tensor { Activations.silu(x) }

    /// Which keys a causal query sees: `topLeft` is torch's `is_causal` (query i sees keys j ≤ i);
    /// `bottomRight` aligns the last query with the last key (a KV cache: query i sees j ≤ i + S − L).
    /// They agree when L == S.
    enum CausalMask: Equatable { case none, topLeft, bottomRight }

    /// `F.scaled_dot_product_attention` on [B, H, L, D] through `Attention.scaledDotProductAttention`
    /// ([T, heads, headDim] per sequence). The runtime op covers Dv == D with no mask, a
    /// bottom-right mask, or a top-left mask when L == S; other cases (Dv ≠ D, top-left with L ≠ S)
    /// run `referenceAttention` here and do not exercise the runtime.
    static func attention(q: Tensor, k: Tensor, v: Tensor, mask: CausalMask, scale: Double?) throws -> Tensor {
        guard q.rank == 4, k.rank == 4, v.rank == 4 else { throw ShapeError("attention needs q, k, v of rank 4 [B, H, L, D]; got \(q.shape), \(k.shape), \(v.shape)") }
        let (b, h, l, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hk, s, dv) = (k.shape[1], k.shape[2], v.shape[3])
        guard k.shape[0] == b, v.shape[0] == b, k.shape[3] == d, v.shape[1] == hk, v.shape[2] == s, hk >= 1, h % hk == 0, s >= 1 else {
            throw ShapeError("attention shapes q \(q.shape), k \(k.shape), v \(v.shape) do not agree")
        }
        if mask == .bottomRight && l > s { throw ShapeError("bottom-right causal attention with more queries (\(l)) than keys (\(s))") }
        let runtimeCovers = dv == d && (mask != .topLeft || l == s)
        guard runtimeCovers else { return referenceAttention(q: q, k: k, v: v, mask: mask, scale: scale) }
        // [B, H, T, D] → [B, T, H, D]: each batch row is then one contiguous [T, H, D] sequence.
        let (qt, kt, vt) = (Shape.permute(q, [0, 2, 1, 3]), Shape.permute(k, [0, 2, 1, 3]), Shape.permute(v, [0, 2, 1, 3]))
        func sequence(_ t: Tensor, _ i: Int) -> Tensor {
            let rows = Array(t.shape.dropFirst())
            let n = rows.reduce(1, *)
            return t.withUnsafeBufferPointer { p in Tensor(shape: rows, values: Array(p[(i * n)..<((i + 1) * n)])) }
        }
        let outputs = (0..<b).map { i in
            Attention.scaledDotProductAttention(query: sequence(qt, i), key: sequence(kt, i), value: sequence(vt, i),
                                                isCausal: mask != .none, scale: scale.map { Float($0) })
        }
        return Shape.permute(Shape.cat(outputs.map { $0.reshaped([1] + $0.shape) }, dim: 0), [0, 2, 1, 3])
    }

    /// Plain f32 attention for the cases the runtime op does not take (shapes already checked):
    /// q [B, H, L, D], k [B, Hk, S, D], v [B, Hk, S, Dv]; grouped-query heads share k/v head h / (H / Hk).
    static func referenceAttention(q: Tensor, k: Tensor, v: Tensor, mask: CausalMask, scale: Double?) -> Tensor {
        let (b, h, l, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hk, s, dv) = (k.shape[1], k.shape[2], v.shape[3])
        let shift = mask == .bottomRight ? s - l : 0
        let causal = mask != .none
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
                                for j in 0..<s where !(causal && j > i + shift) { m = max(m, row[j]) }
                                var sum = 0.0
                                for j in 0..<s {
                                    if (causal && j > i + shift) || m == -Float.infinity { row[j] = 0; continue }
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
