import Foundation

/// Rotary position embeddings, Hugging Face rotate-half layout (LLaMA `apply_rotary_pos_emb`):
/// for i < D/2, `out[i] = x[i]·cos − x[i+D/2]·sin`, `out[i+D/2] = x[i+D/2]·cos + x[i]·sin` with
/// angle `pos · θ^(−2i/D)`.
public enum Rope {
    /// Per-position cos/sin tables [positions.count, D/2], computed in f32 as HF does
    /// (`inv_freq = 1 / θ^(arange(0, D, 2) / D)`, angle = f32 product).
    public static func tables(positions: [Int], headDim: Int, theta: Float) -> (cos: [Float], sin: [Float]) {
        let half = headDim / 2
        let invFreq: [Float] = (0..<half).map { i in 1 / Foundation.powf(theta, Float(2 * i) / Float(headDim)) }
        var cos = [Float](repeating: 0, count: positions.count * half), sin = cos
        for (t, p) in positions.enumerated() {
            for i in 0..<half {
                let angle = Float(p) * invFreq[i]
                cos[t * half + i] = Float(Foundation.cos(Double(angle)))
                sin[t * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
        return (cos, sin)
    }

    /// HF `apply_rotary_pos_emb` on x [T, heads, headDim] at `positions` (T of them).
    public static func applyRotaryPosEmb(_ x: Tensor, positions: [Int], theta: Float = 10000) -> Tensor {
        precondition(x.rank == 3 && x.shape[0] == positions.count, "rope: input \(x.shape) for \(positions.count) positions")
        let heads = x.shape[1], d = x.shape[2], half = d / 2
        precondition(d % 2 == 0, "rope: odd head dim \(d)")
        let (cos, sin) = tables(positions: positions, headDim: d, theta: theta)
        return Tensor(shape: x.shape) { out in
            let dst = SendablePointer(out.baseAddress!)
            x.readPointer { src in
                cos.withUnsafeBufferPointer { cb in
                    sin.withUnsafeBufferPointer { sb in
                        OpParallel.forEach(positions.count, costPerItem: heads * d * 3) { range in
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
