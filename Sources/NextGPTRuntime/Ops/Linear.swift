import COpenBLAS
import Foundation

/// `F.linear`: y = x · Wᵀ + b.
public enum Linear {
    /// x: [..., in]; weight: container weight [out, in]; bias: [out] or nil → [..., out].
    ///
    /// TODO(kernels): dequantizes the whole weight and calls cblas_sgemm. Switch to the kernel
    /// layer's `Matmul.multiply(WeightMatrix, …)` (Sources/NextGPTKernels) once it lands, so q8_0 /
    /// q4_0 / q4_K / f16 weights are multiplied without an f32 copy.
    public static func linear(_ x: Tensor, weight: Weight, bias: Tensor?) -> Tensor {
        precondition(weight.shape.count == 2, "linear: weight \(weight.name) has shape \(weight.shape)")
        return linear(x, weight: weight.dequantized(), bias: bias)
    }

    /// x: [..., in]; weight: [out, in] f32; bias: [out] or nil → [..., out].
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2 && x.shape.last == weight.shape[1], "linear: input \(x.shape) with weight \(weight.shape)")
        let k = weight.shape[1], n = weight.shape[0], m = x.count / max(k, 1)
        if let bias { precondition(bias.count == n, "linear: bias \(bias.shape) for \(n) outputs") }
        var shape = x.shape
        shape[shape.count - 1] = n
        return Tensor(shape: shape) { out in
            let c = out.baseAddress!
            if let bias {
                bias.readPointer { b in for r in 0..<m { (c + r * n).update(from: b, count: n) } }
            }
            x.readPointer { a in
                weight.readPointer { w in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                                1, a, Int32(k), w, Int32(k), bias == nil ? 0 : 1, c, Int32(n))
                }
            }
        }
    }
}
