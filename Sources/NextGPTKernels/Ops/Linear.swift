import COpenBLAS
import Foundation

/// `F.linear`: y = x · Wᵀ + b.
public enum Linear {
    /// x: [..., in]; weight: container weight [out, in] of any container type; bias: [out] or nil
    /// → [..., out]. Through the kernel layer's `Matmul.multiply`: small batches run the direct
    /// kernels (quantized weights × 8-bit-quantized activations in integer arithmetic, as ggml),
    /// larger ones dequantize weight panels and use sgemm (repacked Q8_0 / Q4_0 weights stay on
    /// 8-bit activations: the tiled integer GEMM on AVX-512 VNNI CPUs); `context.matmulPath` can
    /// force any of them.
    public static func linear(_ x: Tensor, weight: Weight, bias: Tensor?, context: ExecutionContext) -> Tensor {
        precondition(weight.shape.count == 2 && x.shape.last == weight.shape[1],
                     "linear: input \(x.shape) with weight \(weight.name) \(weight.shape)")
        let k = weight.shape[1], n = weight.shape[0]
        if let bias { precondition(bias.count == n, "linear: bias \(bias.shape) for \(n) outputs") }
        guard weight.type.byteCount(elements: k) != nil, let data = weight.bytes.baseAddress else {
            return linear(x, weight: weight.dequantized(), bias: bias, context: context)
        }
        let matrix = WeightMatrix(type: weight.type, rows: n, columns: k, data: data)
        return withExtendedLifetime(weight) { linear(x, matrix: matrix, bias: bias, context: context) }
    }

    /// x: [..., in] through a kernel-layer matrix (e.g. one `WeightMatrix.repacked()` at load)
    /// → [..., rows].
    public static func linear(_ x: Tensor, matrix: WeightMatrix, bias: Tensor?, context: ExecutionContext) -> Tensor {
        precondition(x.shape.last == matrix.columns, "linear: input \(x.shape) with a \(matrix.rows)×\(matrix.columns) matrix")
        let n = matrix.rows, m = x.count / max(matrix.columns, 1)
        if let bias { precondition(bias.count == n, "linear: bias \(bias.shape) for \(n) outputs") }
        var shape = x.shape
        shape[shape.count - 1] = n
        return Tensor(shape: shape) { out in
            let y = out.baseAddress!
            x.readPointer { Matmul.multiply(matrix, $0, batch: m, into: y, context: context) }
            if let bias {
                // Over the pool: a UNet's 8192 × 2560 output is 84 MB, a pass one core cannot stream.
                let rows = SendablePointer(y)
                bias.readPointer { b in
                    OpParallel.forEach(m, costPerItem: n, context: context) { range in
                        for r in range {
                            let row = rows.base + r * n
                            for j in 0..<n { row[j] += b[j] }
                        }
                    }
                }
            }
        }
    }

    /// x: [..., in]; weight: [out, in] f32; bias: [out] or nil → [..., out].
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, context: ExecutionContext) -> Tensor {
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
                    Kernels.sgemm(transB: true, m: m, n: n, k: k, a: a, lda: k, b: w, ldb: k, beta: bias == nil ? 0 : 1,
                                  c: c, ldc: n, context: context)
                }
            }
        }
    }
}
