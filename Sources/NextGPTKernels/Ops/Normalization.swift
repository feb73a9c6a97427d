import CNextGPTKernels
import Foundation

/// Normalizations: HF LlamaRMSNorm, `F.layer_norm` over the last dimension, `F.group_norm`.
public enum Normalization {
    /// HF `LlamaRMSNorm` over the last dimension: `x * rsqrt(mean(x²) + eps) * weight` in f32.
    /// x: [..., D]; weight: [D].
    public static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, context: ExecutionContext) -> Tensor {
        let d = x.shape.last!
        if let weight { precondition(weight.count == d, "rmsNorm: weight \(weight.shape) for \(x.shape)") }
        return rowwise(x, context: context) { src, dst, rows in
            withOptionalPointer(weight) { w in
                for r in rows { ngo_rms_norm_row(src + r * d, w, dst + r * d, d, eps) }
            }
        }
    }

    /// `F.layer_norm(x, (D,), weight, bias, eps)`: over the last dimension; weight and bias [D] or nil.
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, context: ExecutionContext) -> Tensor {
        let d = x.shape.last!
        if let weight { precondition(weight.count == d, "layerNorm: weight \(weight.shape) for \(x.shape)") }
        if let bias { precondition(bias.count == d, "layerNorm: bias \(bias.shape) for \(x.shape)") }
        return rowwise(x, context: context) { src, dst, rows in
            withOptionalPointer(weight) { w in
                withOptionalPointer(bias) { b in
                    for r in rows { ngo_layer_norm_row(src + r * d, w, b, dst + r * d, d, eps) }
                }
            }
        }
    }

    /// `F.group_norm(x, groups, weight, bias, eps)`: x [N, C, *] (NCHW, N C T H W, N C L);
    /// statistics per (sample, group) over C/groups channels × all positions; weight and bias [C] or nil.
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float, context: ExecutionContext) -> Tensor {
        Tensor(shape: x.shape) { out in
            x.readPointer { src in
                groupNorm(src, into: out.baseAddress!, shape: x.shape, groups: groups, weight: weight, bias: bias, eps: eps,
                          context: context)
            }
        }
    }

    /// `groupNorm` written over x itself when no other tensor shares its storage (an activation
    /// its caller gave up: a plane-sized buffer fewer at a VAE's peak), into a new tensor otherwise.
    public static func groupNorm(inPlace x: inout Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float,
                                 context: ExecutionContext) {
        guard x.holdsUniqueStorage() else {
            x = groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, context: context)
            return
        }
        let shape = x.shape
        x.withUnsafeMutableBufferPointer { values in
            groupNorm(values.baseAddress!, into: values.baseAddress!, shape: shape, groups: groups, weight: weight, bias: bias,
                      eps: eps, context: context)
        }
    }

    /// Each (sample, group) span is read whole for its statistics before any of it is written,
    /// so `dst` may be `src`.
    static func groupNorm(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, shape: [Int], groups: Int,
                          weight: Tensor?, bias: Tensor?, eps: Float, context: ExecutionContext) {
        precondition(shape.count >= 2, "groupNorm: input \(shape) needs [N, C, ...]")
        let n = shape[0], c = shape[1], s = shape.reduce(1, *) / max(n * c, 1)
        precondition(c % groups == 0, "groupNorm: \(c) channels in \(groups) groups")
        let cg = c / groups, span = cg * s
        let target = SendablePointer(dst)
        withOptionalPointer(weight) { w in
            withOptionalPointer(bias) { b in
                OpParallel.forEach(n * groups, costPerItem: span * 3, context: context) { range in
                    for ng in range {
                        let base = ng * span
                        let p = src + base
                        var mean = 0.0, variance = 0.0
                        ngo_mean_var(p, span, &mean, &variance)
                        let rstd = Float(1.0 / (variance + Double(eps)).squareRoot())
                        let meanF = Float(mean)
                        let g = ng % groups
                        for ch in 0..<cg {
                            let channel = g * cg + ch
                            let scale = rstd * (w?[channel] ?? 1)
                            let shift = (b?[channel] ?? 0) - meanF * scale
                            let q = p + ch * s, o = target.base + base + ch * s
                            for i in 0..<s { o[i] = q[i] * scale + shift }
                        }
                    }
                }
            }
        }
    }

    /// Applies `body(src, dst, rows)` over the rows (last dimension) of x, in parallel.
    static func rowwise(_ x: Tensor, context: ExecutionContext, _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Range<Int>) -> Void) -> Tensor {
        let d = max(x.shape.last ?? 1, 1)
        let rows = x.count / d
        return Tensor(shape: x.shape) { out in
            let dst = SendablePointer(out.baseAddress!)
            x.readPointer { src in
                OpParallel.forEach(rows, costPerItem: d * 4, context: context) { range in body(src, dst.base, range) }
            }
        }
    }
}

@inline(__always)
func withOptionalPointer<R>(_ t: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let t else { return body(nil) }
    return t.readPointer { body($0) }
}
