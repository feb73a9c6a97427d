import Foundation
import NextGPTKernels

/// The verify calls' bridge to the runtime ops (Sources/NextGPTKernels/Ops): shapes and arguments
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
    static func linear(_ x: Tensor, weight w: Weight, bias b: Tensor?, context: ExecutionContext) throws -> Tensor {
        guard w.shape.count == 2 else { throw ShapeError("linear weight \(w.name) must be 2-D, got \(w.shape)") }
        let (outF, inF) = (w.shape[0], w.shape[1])
        guard let last = x.shape.last, last == inF else { throw ShapeError("linear input \(x.shape) does not end in \(inF)") }
        if let b, b.count != outF { throw ShapeError("linear bias \(b.shape) for \(outF) outputs") }
        return Linear.linear(x, weight: w, bias: b, context: context)
    }

    /// `F.conv1d/2d/3d` through `Convolution`, after checking what its preconditions assume.
    static func convolution(_ x: Tensor, weight w: Tensor, bias b: Tensor?, spatial: Int,
                            stride: [Int], padding: [Int], dilation: [Int], groups: Int, context: ExecutionContext) throws -> Tensor {
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
        case 1: return Convolution.conv1d(x, weight: w, bias: b, stride: stride[0], padding: padding[0], dilation: dilation[0], groups: groups,
                                          context: context)
        case 2: return Convolution.conv2d(x, weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups,
                                          context: context)
        default: return Convolution.conv3d(x, weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups,
                                                context: context)
        }
    }

    static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double, context: ExecutionContext) throws -> Tensor {
        guard x.rank >= 2 else { throw ShapeError("group_norm input must be [N, C, …], got \(x.shape)") }
        let c = x.shape[1]
        guard groups >= 1, c % groups == 0 else { throw ShapeError("group_norm: \(c) channels not divisible into \(groups) groups") }
        for t in [weight, bias].compactMap({ $0 }) where t.count != c { throw ShapeError("group_norm affine \(t.shape) for \(c) channels") }
        return Normalization.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: Float(eps), context: context)
    }

    /// Over the last `normalizedDims` dimensions: those are flattened into one, which is what
    /// `Normalization.layerNorm` (last dimension) normalizes.
    static func layerNorm(_ x: Tensor, normalizedDims: Int, weight: Tensor?, bias: Tensor?, eps: Double,
                          context: ExecutionContext) throws -> Tensor {
        guard normalizedDims >= 1, normalizedDims <= x.rank else { throw ShapeError("layer_norm over \(normalizedDims) dims of \(x.shape)") }
        let inner = x.shape.suffix(normalizedDims).reduce(1, *)
        guard inner > 0 else { throw ShapeError("layer_norm of \(x.shape)") }
        for t in [weight, bias].compactMap({ $0 }) where t.count != inner { throw ShapeError("layer_norm affine \(t.shape) for \(x.shape.suffix(normalizedDims))") }
        let flat = x.reshaped(Array(x.shape.dropLast(normalizedDims)) + [inner])
        return Normalization.layerNorm(flat, weight: weight?.reshaped([inner]), bias: bias?.reshaped([inner]), eps: Float(eps),
                                       context: context)
            .reshaped(x.shape)
    }

    static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Double, context: ExecutionContext) throws -> Tensor {
        guard let inner = x.shape.last, inner > 0 else { throw ShapeError("rms_norm of \(x.shape)") }
        if let weight, weight.count != inner { throw ShapeError("rms_norm weight \(weight.shape) for last dimension \(inner)") }
        return Normalization.rmsNorm(x, weight: weight, eps: Float(eps), context: context)
    }

    /// Any dimension: moved last, `Activations.softmax`, moved back.
    static func softmax(_ x: Tensor, dim: Int, context: ExecutionContext) throws -> Tensor {
        let d = dim < 0 ? dim + x.rank : dim
        guard d >= 0, d < x.rank else { throw ShapeError("softmax dim \(dim) out of range for \(x.shape)") }
        if d == x.rank - 1 { return Activations.softmax(x, context: context) }
        let moved = Shape.transpose(x, d, x.rank - 1, context: context)
        return Shape.transpose(Activations.softmax(moved, context: context), d, x.rank - 1, context: context)
    }

    static func gelu(_ x: Tensor, tanhApproximation: Bool, context: ExecutionContext) -> Tensor {
        Activations.gelu(x, approximate: tanhApproximation ? .tanh : .none, context: context)
    }

    static func silu(_ x: Tensor, context: ExecutionContext) -> Tensor { Activations.silu(x, context: context) }

    /// Which keys a causal query sees: `topLeft` is torch's `is_causal` (query i sees keys j ≤ i);
    /// `bottomRight` aligns the last query with the last key (a KV cache: query i sees j ≤ i + S − L).
    /// They agree when L == S.
    enum CausalMask: Equatable { case none, topLeft, bottomRight }

    /// `F.scaled_dot_product_attention` on [B, H, L, D] through `Attention.scaledDotProductAttention`
    /// ([T, heads, headDim] per sequence). `attnMask` broadcasts to [B, H, L, S]: added to the
    /// scores, or with `maskIsBoolean` nonzero = the key takes part (a boolean `attn_mask`); `keyPadding` [B, S], nonzero =
    /// the key is ignored.
    static func attention(q: Tensor, k: Tensor, v: Tensor, mask: CausalMask, scale: Double?,
                          attnMask: Tensor? = nil, maskIsBoolean: Bool = false, keyPadding: Tensor? = nil,
                          context: ExecutionContext) throws -> Tensor {
        guard q.rank == 4, k.rank == 4, v.rank == 4 else { throw ShapeError("attention needs q, k, v of rank 4 [B, H, L, D]; got \(q.shape), \(k.shape), \(v.shape)") }
        let (b, h, l, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hk, s) = (k.shape[1], k.shape[2])
        guard k.shape[0] == b, v.shape[0] == b, k.shape[3] == d, v.shape[1] == hk, v.shape[2] == s, hk >= 1, h % hk == 0, s >= 1 else {
            throw ShapeError("attention shapes q \(q.shape), k \(k.shape), v \(v.shape) do not agree")
        }
        // The attention mask as [B or 1, H or 1, L or 1, S] (numpy broadcasting from the right).
        var maskShape: [Int]? = nil
        if let attnMask {
            guard (1...4).contains(attnMask.rank) else { throw ShapeError("attn_mask \(attnMask.shape) must have rank 1 to 4") }
            let full = [Int](repeating: 1, count: 4 - attnMask.rank) + attnMask.shape
            guard zip(full, [b, h, l, s]).allSatisfy({ $0 == 1 || $0 == $1 }), full[3] == s else {
                throw ShapeError("attn_mask \(attnMask.shape) does not broadcast to [\(b), \(h), \(l), \(s)]")
            }
            maskShape = full
        }
        if let keyPadding, keyPadding.shape != [b, s] {
            throw ShapeError("key_padding_mask \(keyPadding.shape) is not [\(b), \(s)]")
        }
        let additive = attnMask.map { maskIsBoolean ? Attention.additiveMask(allowed: $0) : $0 }
        // [B, H, T, D] → [B, T, H, D]: each batch row is then one contiguous [T, H, D] sequence.
        let (qt, kt, vt) = (Shape.permute(q, [0, 2, 1, 3], context: context), Shape.permute(k, [0, 2, 1, 3], context: context),
                            Shape.permute(v, [0, 2, 1, 3], context: context))
        func batchRow(_ t: Tensor, _ i: Int) -> Tensor {
            let rows = Array(t.shape.dropFirst())
            let n = rows.reduce(1, *)
            let j = t.shape[0] == 1 ? 0 : i
            return t.withUnsafeBufferPointer { p in Tensor(shape: rows, values: Array(p[(j * n)..<((j + 1) * n)])) }
        }
        let outputs = (0..<b).map { i in
            Attention.scaledDotProductAttention(
                query: batchRow(qt, i), key: batchRow(kt, i), value: batchRow(vt, i), isCausal: mask != .none,
                causalAlignment: mask == .topLeft ? .topLeft : .bottomRight,
                mask: additive.map { batchRow($0.reshaped(maskShape!), i) },
                keyPadding: keyPadding.map { batchRow($0, i).values.map { $0 != 0 } },
                scale: scale.map { Float($0) }, context: context)
        }
        return Shape.permute(Shape.cat(outputs.map { $0.reshaped([1] + $0.shape) }, dim: 0), [0, 2, 1, 3], context: context)
    }

    /// `F.conv_transpose1d` through `Convolution.convTranspose1d`: x [N, Cin, L], weight [Cin, Cout/g, K].
    static func convTranspose1d(_ x: Tensor, weight w: Tensor, bias b: Tensor?, stride: Int, padding: Int,
                                outputPadding: Int, groups: Int, dilation: Int, context: ExecutionContext) throws -> Tensor {
        guard x.rank == 3, w.rank == 3 else { throw ShapeError("conv_transpose1d needs input [N, C, L] and weight [C, O/g, K]; got \(x.shape), \(w.shape)") }
        let c = x.shape[1]
        guard groups >= 1, c % groups == 0, w.shape[0] == c else {
            throw ShapeError("conv_transpose1d: input channels \(c), weight \(w.shape), groups \(groups) do not agree")
        }
        if let b, b.count != w.shape[1] * groups { throw ShapeError("conv_transpose1d bias \(b.shape) for \(w.shape[1] * groups) output channels") }
        guard stride >= 1, dilation >= 1, padding >= 0, outputPadding >= 0, outputPadding < max(stride, dilation) else {
            throw ShapeError("conv_transpose1d: stride \(stride), padding \(padding), output_padding \(outputPadding), dilation \(dilation)")
        }
        guard (x.shape[2] - 1) * stride - 2 * padding + dilation * (w.shape[2] - 1) + outputPadding + 1 > 0 else {
            throw ShapeError("conv_transpose1d: empty output for input \(x.shape), weight \(w.shape)")
        }
        return Convolution.convTranspose1d(x, weight: w, bias: b, stride: stride, padding: padding, outputPadding: outputPadding,
                                           groups: groups, dilation: dilation, context: context)
    }
}
