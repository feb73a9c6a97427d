import COpenBLAS

/// The one low-rank update every LoRA merge uses (conversion, export, load):
/// W[rows × columns] += scale · B[rows × rank] · A[rank × columns], in f32, row-major.
/// A single BLAS call, so a merge gives the same bits wherever it happens.
public enum LowRank {
    /// `b` points at the first of the `rows` rows of B to apply (row stride `rank`); `a` at A.
    public static func add(scale: Float, b: UnsafePointer<Float>, a: UnsafePointer<Float>, rank: Int,
                           rows: Int, columns: Int, into weight: UnsafeMutablePointer<Float>) {
        guard rows > 0, columns > 0, rank > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(columns), Int32(rank),
                    scale, b, Int32(rank), a, Int32(columns), 1, weight, Int32(columns))
    }
}
