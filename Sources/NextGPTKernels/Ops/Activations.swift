import CNextGPTKernels
import Foundation

/// Elementwise activations and the last-dimension softmax.
public enum Activations {
    public enum GELUApproximation: Sendable { case none, tanh }

    /// `F.silu` (SiLU / swish): x · sigmoid(x).
    public static func silu(_ x: Tensor, context: ExecutionContext) -> Tensor { map(x, context: context) { ngo_silu_row($0, $1, $2) } }

    /// SiLU over `x`'s own storage (copied first only if shared): no second activation-sized buffer.
    public static func siluInPlace(_ x: inout Tensor, context: ExecutionContext) {
        let n = x.count, piece = 4096
        x.withUnsafeMutableBufferPointer { buffer in
            let p = SendablePointer(buffer.baseAddress!)
            OpParallel.forEach((n + piece - 1) / piece, costPerItem: piece * 4, context: context) { range in
                let lo = range.lowerBound * piece, hi = min(n, range.upperBound * piece)
                ngo_silu_row(p.base + lo, p.base + lo, hi - lo)
            }
        }
    }

    /// `F.gelu(x, approximate: "none" | "tanh")`.
    public static func gelu(_ x: Tensor, approximate: GELUApproximation = .none, context: ExecutionContext) -> Tensor {
        switch approximate {
        case .none: return map(x, context: context) { ngo_gelu_erf_row($0, $1, $2) }
        case .tanh: return map(x, context: context) { ngo_gelu_tanh_row($0, $1, $2) }
        }
    }

    /// HF / CLIP `quick_gelu`: x · sigmoid(1.702 x).
    public static func quickGELU(_ x: Tensor, context: ExecutionContext) -> Tensor { map(x, context: context) { ngo_quick_gelu_row($0, $1, $2) } }

    /// `F.relu`.
    public static func relu(_ x: Tensor, context: ExecutionContext) -> Tensor {
        map(x, context: context) { src, dst, n in for i in 0..<n { dst[i] = max(src[i], 0) } }
    }

    /// `F.leaky_relu(x, negative_slope)`.
    public static func leakyReLU(_ x: Tensor, negativeSlope: Float = 0.01, context: ExecutionContext) -> Tensor {
        map(x, context: context) { src, dst, n in for i in 0..<n { let v = src[i]; dst[i] = v >= 0 ? v : v * negativeSlope } }
    }

    /// `torch.tanh`.
    public static func tanh(_ x: Tensor, context: ExecutionContext) -> Tensor {
        map(x, context: context) { src, dst, n in for i in 0..<n { dst[i] = Foundation.tanh(src[i]) } }
    }

    /// `F.softmax(x, dim=-1)`, numerically stable.
    public static func softmax(_ x: Tensor, context: ExecutionContext) -> Tensor {
        let d = max(x.shape.last ?? 1, 1)
        return Normalization.rowwise(x, context: context) { src, dst, rows in
            for r in rows {
                (dst + r * d).update(from: src + r * d, count: d)
                ngo_softmax_row(dst + r * d, d)
            }
        }
    }

    /// diffusers `GEGLU`: `proj(x)` split in half along the last dimension → `a * gelu(b)` (exact GELU).
    /// x: [..., Din]; weight: [2·Dout, Din]; bias: [2·Dout] → [..., Dout].
    public static func geglu(_ x: Tensor, weight: Tensor, bias: Tensor?, context: ExecutionContext) -> Tensor {
        geglu(Linear.linear(x, weight: weight, bias: bias, context: context), context: context)
    }

    /// The rest of `GEGLU.forward` once `proj` has run: `a, b = h.chunk(2, dim=-1); a * gelu(b)`,
    /// in one parallel pass that reads each half in place (no chunk copies, no gelu tensor).
    /// h: [..., 2·D] → [..., D].
    public static func geglu(_ h: Tensor, context: ExecutionContext) -> Tensor {
        let d2 = h.shape.last ?? 0, d = d2 / 2
        precondition(d2 % 2 == 0, "geglu: last dimension of \(h.shape) is odd")
        var shape = h.shape
        shape[shape.count - 1] = d
        let rows = d2 == 0 ? 0 : h.count / d2
        return Tensor(shape: shape) { out in
            guard rows > 0, d > 0 else { return }
            let dst = SendablePointer(out.baseAddress!)
            h.readPointer { src in
                OpParallel.forEach(rows, costPerItem: d * 8, context: context) { range in
                    for r in range {
                        let o = dst.base + r * d, a = src + r * d2
                        ngo_gelu_erf_row(a + d, o, d)
                        for i in 0..<d { o[i] *= a[i] }
                    }
                }
            }
        }
    }

    /// Applies a row function `(src, dst, n)` to all values, in parallel pieces.
    static func map(_ x: Tensor, context: ExecutionContext, _ f: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let n = x.count
        let piece = 4096
        return Tensor(shape: x.shape) { out in
            let dst = SendablePointer(out.baseAddress!)
            x.readPointer { src in
                OpParallel.forEach((n + piece - 1) / piece, costPerItem: piece * 4, context: context) { range in
                    let lo = range.lowerBound * piece, hi = min(n, range.upperBound * piece)
                    f(src + lo, dst.base + lo, hi - lo)
                }
            }
        }
    }
}
