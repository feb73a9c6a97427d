import Foundation

/// Rotary position embeddings, Hugging Face rotate-half layout (LLaMA `apply_rotary_pos_emb`):
/// for i < D/2, `out[i] = x[i]·cos − x[i+D/2]·sin`, `out[i+D/2] = x[i+D/2]·cos + x[i]·sin` with
/// angle `pos · θ^(−2i/D)`.
public enum Rope {
    /// Per-position cos/sin tables [positions.count, D/2], computed in f32 as HF does
    /// (`inv_freq = 1 / θ^(arange(0, D, 2) / D)`, angle = f32 product).
    public static func tables(positions: [Int], headDim: Int, theta: Float) -> (cos: [Float], sin: [Float]) {
        let invFreq: [Float] = (0..<headDim / 2).map { i in 1 / Foundation.powf(theta, Float(2 * i) / Float(headDim)) }
        return tables(positions: positions, inverseFrequencies: invFreq)
    }

    /// HF `apply_rotary_pos_emb` on x [T, heads, headDim] at `positions` (T of them).
    public static func applyRotaryPosEmb(_ x: Tensor, positions: [Int], theta: Float = 10000, context: ExecutionContext) -> Tensor {
        precondition(x.rank == 3 && x.shape[0] == positions.count, "rope: input \(x.shape) for \(positions.count) positions")
        let (cos, sin) = tables(positions: positions, headDim: x.shape[2], theta: theta)
        return applyRotaryPosEmb(x, cos: cos, sin: sin, context: context)
    }

    /// Per-position cos/sin tables [T, D/2] from inverse frequencies [D/2] (models with scaled
    /// frequencies compute their own), optionally multiplied by `attentionScaling` as HF does.
    public static func tables(positions: [Int], inverseFrequencies invFreq: [Float], attentionScaling: Float = 1) -> (cos: [Float], sin: [Float]) {
        let half = invFreq.count
        var cos = [Float](repeating: 0, count: positions.count * half), sin = cos
        for (t, p) in positions.enumerated() {
            for i in 0..<half {
                let angle = Float(p) * invFreq[i]
                cos[t * half + i] = Float(Foundation.cos(Double(angle))) * attentionScaling
                sin[t * half + i] = Float(Foundation.sin(Double(angle))) * attentionScaling
            }
        }
        return (cos, sin)
    }

    /// HF `apply_rotary_pos_emb` on x [T, heads, headDim] with tables [T, headDim/2] from `tables`.
    public static func applyRotaryPosEmb(_ x: Tensor, cos: [Float], sin: [Float], context: ExecutionContext) -> Tensor {
        let positions = x.shape[0], heads = x.shape[1], d = x.shape[2], half = d / 2
        precondition(x.rank == 3 && d % 2 == 0 && cos.count == positions * half && sin.count == cos.count,
                     "rope: input \(x.shape) with tables of \(cos.count) values")
        return Tensor(shape: x.shape) { out in
            let dst = SendablePointer(out.baseAddress!)
            x.readPointer { src in
                cos.withUnsafeBufferPointer { cb in
                    sin.withUnsafeBufferPointer { sb in
                        OpParallel.forEach(positions, costPerItem: heads * d * 3, context: context) { range in
                            for t in range {
                                let c = cb.baseAddress! + t * half, s = sb.baseAddress! + t * half
                                for h in 0..<heads {
                                    let p = src + (t * heads + h) * d, o = dst.base + (t * heads + h) * d
                                    for i in 0..<half {
                                        let a = p[i], b = p[i + half]
                                        o[i] = a * c[i] - b * s[i]
                                        o[i + half] = b * c[i] + a * s[i]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
