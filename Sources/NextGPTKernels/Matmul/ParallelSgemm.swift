import COpenBLAS
import Foundation

extension Kernels {
    /// Row-major C[m×n] = alpha · op(A) · op(B) + beta · C, split over the context's pool: by rows
    /// of C when m ≥ n, else by columns, each part one single-threaded OpenBLAS call.
    ///
    /// OpenBLAS is kept at one thread (`ExecutionContext` pins it) because its own workers spin in
    /// `sched_yield` for a while after every call: on 2 cores they took the CPU from the pool's
    /// next op (SD UNet at 512², 15 % of samples in the scheduler; attention 1.5× slower).
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, context: ExecutionContext) {
        let pool = context.pool
        guard m > 0, n > 0 else { return }
        let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
        let parts = m * n * k < 1 << 18 ? 1 : pool.threads
        let byRows = m >= n
        let extent = byRows ? m : n
        let step = max(16, (extent / parts + 15) / 16 * 16)
        let pieces = (extent + step - 1) / step
        let (aBase, bBase, cBase) = (SendableReadPointer(a), SendableReadPointer(b), SendableReadPointer(UnsafePointer(c)))
        pool.parallelFor(each: pieces) { piece in
            let start = piece * step, count = min(step, extent - start)
            let out = UnsafeMutablePointer(mutating: cBase.pointer)
            if byRows {
                let aPart = transA ? aBase.pointer + start : aBase.pointer + start * lda
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(count), Int32(n), Int32(k), alpha, aPart, Int32(lda),
                            bBase.pointer, Int32(ldb), beta, out + start * ldc, Int32(ldc))
            } else {
                let bPart = transB ? bBase.pointer + start * ldb : bBase.pointer + start
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(count), Int32(k), alpha, aBase.pointer, Int32(lda),
                            bPart, Int32(ldb), beta, out + start, Int32(ldc))
            }
        }
    }
}

