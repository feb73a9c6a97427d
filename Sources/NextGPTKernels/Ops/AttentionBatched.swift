import CNextGPTKernels
import Foundation

extension Attention {
    /// Unmasked scaled dot-product attention over a batch of independent short sequences:
    /// query [B, Tq, heads, D], key [B, Tk, heads, D], value [B, Tk, heads, Dv] → [B, Tq, heads, Dv]
    /// (softmax(q·kᵀ·scale)·v per sequence and head; scale 1/√D unless given). One work item is one
    /// sequence with all its heads and whole score rows, multiplied by the single-threaded kernels:
    /// the shape of a video UNet's temporal attention (every position attending over its F frames),
    /// where one `scaledDotProductAttention` call per sequence costs more than its arithmetic.
    public static func batchedScaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, scale: Float? = nil,
                                                        context: ExecutionContext) -> Tensor {
        precondition(query.rank == 4 && key.rank == 4 && value.rank == 4
                     && key.shape[0] == query.shape[0] && value.shape[0] == query.shape[0] && key.shape[1] == value.shape[1]
                     && key.shape[2] == query.shape[2] && value.shape[2] == query.shape[2] && key.shape[3] == query.shape[3],
                     "batched attention: q \(query.shape), k \(key.shape), v \(value.shape) are not [B, T, heads, headDim]")
        let (b, tq, heads, d) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3])
        let (tk, dv) = (key.shape[1], value.shape[3])
        let alpha = scale ?? 1 / Float(d).squareRoot()
        if tq >= fusedMinimumQueries && tk > 0, let body = fusedBody(context, headDim: d, valueDim: dv) {
            return batchedFused(query: query, key: key, value: value, scale: alpha, body: body, context: context)
        }
        let (ldq, ldv) = (heads * d, heads * dv)
        return Tensor(shape: [b, tq, heads, dv]) { out in
            let dst = SendablePointer(out.baseAddress!)
            query.readPointer { q in
                key.readPointer { k in
                    value.readPointer { v in
                        OpParallel.forEach(b, costPerItem: heads * tq * tk * (d + dv) * 2, context: context) { range in
                            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(tq * tk, 1))
                            let packed = UnsafeMutablePointer<Float>.allocate(capacity: max(tk * d, 1))
                            defer { scores.deallocate(); packed.deallocate() }
                            for sequence in range {
                                for h in 0..<heads {
                                    let qs = q + sequence * tq * ldq + h * d, ks = k + sequence * tk * ldq + h * d
                                    let vs = v + sequence * tk * ldv + h * dv, os = dst.base + sequence * tq * ldv + h * dv
                                    guard tk > 0 else {
                                        for r in 0..<tq { (os + r * ldv).update(repeating: 0, count: dv) }
                                        continue
                                    }
                                    ngs_sgemm_nt(tq, tk, d, alpha, qs, ldq, ks, ldq, 0, scores, tk, packed)
                                    for r in 0..<tq {
                                        let row = scores + r * tk
                                        let inv = 1 / ngo_exp_shift_row(row, tk, ngo_max_row(row, tk))
                                        for j in 0..<tk { row[j] *= inv }
                                    }
                                    ngs_sgemm_nn(tq, dv, tk, 1, scores, tk, vs, ldv, 0, os, ldv)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
