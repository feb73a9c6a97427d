import CNextGPTKernels
import COpenBLAS

typealias MVKernel = @convention(c) (UnsafeRawPointer?, Int, Int, Int, UnsafeRawPointer?, Int, Int, UnsafeMutablePointer<Float>?, Int) -> Void

public enum Matmul {
    /// How a product is computed.
    public enum Path: Sendable {
        /// The rule below.
        case automatic
        /// Row-parallel dot products: quantized weights × 8-bit activations in integer arithmetic,
        /// f32/f16/bf16 weights × f32 activations.
        case direct
        /// Weight panels dequantized to f32, then OpenBLAS sgemm.
        case blas
    }

    /// The batch from which `.automatic` takes the BLAS path.
    /// Measured on the 2-core EPYC (AVX2, 2 threads, 4096×4096 weights, tools/bench/bench_kernels.sh
    /// "crossover" section, ms per call direct/blas): the direct kernels cost ≈ linear in the batch
    /// (the 4-row weight group stays in L1 while every activation passes), dequantize + sgemm has a
    /// fixed ≈ 20–30 ms floor for 16 M weights and then grows slowly. Direct still won at 16–24 for
    /// every type and at 32 for q8_0/q4_K/f16; BLAS won at 64 for f32/f16/q4_0/q4_K and at 32 for
    /// f32/q4_0 (noisy machine: ±20%). A second run: q4_K direct still won at 64 (20 vs 25 ms) but
    /// lost at 512 (200 vs 129 ms).
    public static func blasThreshold(for type: GGMLType) -> Int {
        switch type {
        case .f32, .q4_0: return 32
        case .f16, .bf16: return 48
        case .q8_0: return 64
        case .q4_K: return 96
        default: return Int.max
        }
    }

    /// The batch from which `.automatic` dequantizes repacked weights for sgemm.
    public static let packedBLASThreshold = 4096

    /// The whole matrix as f32 values [rows, columns], whatever its layout (row-parallel on the pool).
    public static func dequantized(_ w: WeightMatrix, into out: UnsafeMutablePointer<Float>, context: ExecutionContext) {
        context.pool.parallelFor(w.rows, minimumPerThread: 16) { range in
            dequantizeRows(w, row: range.lowerBound, count: range.count, into: out + range.lowerBound * w.columns)
        }
    }

    /// y[b, r] = Σ_c W[r, c] · x[b, c] for b < batch; x is [batch, columns] row-major f32, y is
    /// [batch, rows]; on the context's pool, by its `matmulPath`.
    public static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, batch: Int, into y: UnsafeMutablePointer<Float>,
                                context: ExecutionContext) {
        guard batch > 0, w.rows > 0 else { return }
        if w.columns == 0 {
            y.update(repeating: 0, count: batch * w.rows)
            return
        }
        let useBLAS: Bool
        switch context.matmulPath {
        // Repacked Q8_0/Q4_0: the direct kernels take 4 activations per weight load and beat
        // dequantize + sgemm at every batch measured (7B Q4_0, 2 threads: 64 tokens 11.4 vs 7.3
        // tok/s, 512 tokens 12.2 vs 9.3).
        // Very large batches (SD's 4096-position layers ×2) still go to sgemm on dequantized
        // panels: the UNet's linears at 8192 rows ran 7.6 s that way against 8.2 s direct.
        case .automatic: useBLAS = batch >= (w.layout == .rowMajor ? blasThreshold(for: w.type) : packedBLASThreshold)
        case .direct: useBLAS = false
        case .blas: useBLAS = true
        }
        if useBLAS {
            multiplyBLAS(w, x, batch: batch, into: y, context: context)
        } else {
            multiplyDirect(w, x, batch: batch, into: y, pool: context.pool)
        }
    }

    /// The activation format the direct kernel of `type` reads: bytes per activation row, and
    /// the quantizer (nil: f32 as given).
    static func activationFormat(_ type: GGMLType, columns: Int) -> (bytes: Int, quantize: (@convention(c) (UnsafePointer<Float>?, UnsafeMutablePointer<UInt8>?, Int) -> Void)?) {
        switch type {
        case .q8_0, .q4_0: return (columns / 32 * Int(NGK_Q8_0_BYTES), ngk_quantize_act_q8_0)
        case .q4_K: return (columns / 256 * Int(NGK_Q8_K_BYTES), ngk_quantize_act_q8_k)
        default: return (columns * 4, nil)
        }
    }

    /// The split Q8_0 activations of the repacked kernels (quants, f32 scales, block sums).
    static func activationFormat(_ w: WeightMatrix) -> (bytes: Int, quantize: (@convention(c) (UnsafePointer<Float>?, UnsafeMutablePointer<UInt8>?, Int) -> Void)?) {
        guard w.layout == .interleaved8 else { return activationFormat(w.type, columns: w.columns) }
        return (w.columns / 32 * 40, ngk_quantize_act_q8_0_split)
    }

    static func kernel(_ w: WeightMatrix, reference: Bool = false) -> MVKernel {
        guard w.layout == .interleaved8 else { return kernel(w.type, reference: reference) }
        switch w.type {
        case .q8_0: return reference ? ngk_mv_q8_0x8_ref : ngk_mv_q8_0x8
        case .q4_0: return reference ? ngk_mv_q4_0x8_ref : ngk_mv_q4_0x8
        default: preconditionFailure("no interleaved layout for \(w.type) weights")
        }
    }

    static func kernel(_ type: GGMLType, reference: Bool = false) -> MVKernel {
        switch type {
        case .f32: return reference ? ngk_mv_f32_ref : ngk_mv_f32
        case .f16: return reference ? ngk_mv_f16_ref : ngk_mv_f16
        case .bf16: return reference ? ngk_mv_bf16_ref : ngk_mv_bf16
        case .q8_0: return reference ? ngk_mv_q8_0_ref : ngk_mv_q8_0
        case .q4_0: return reference ? ngk_mv_q4_0_ref : ngk_mv_q4_0
        case .q4_K: return reference ? ngk_mv_q4_k_ref : ngk_mv_q4_k
        default: preconditionFailure("no matrix product for \(type) weights")
        }
    }

    /// Quantizes `batch` activation rows into the direct kernel's format (nil for f32 formats).
    /// The caller deallocates the result.
    static func quantizeActivations(_ w: WeightMatrix, _ x: UnsafePointer<Float>, batch: Int, pool: ThreadPool) -> UnsafeMutableRawPointer? {
        let format = activationFormat(w), columns = w.columns
        guard let quantize = format.quantize else { return nil }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: batch * format.bytes, alignment: 64)
        let q = buffer.assumingMemoryBound(to: UInt8.self)
        if batch >= 4 {
            pool.parallelFor(batch) { range in
                for b in range { quantize(x + b * columns, q + b * format.bytes, columns) }
            }
        } else {
            for b in 0..<batch { quantize(x + b * columns, q + b * format.bytes, columns) }
        }
        return buffer
    }

    static func multiplyDirect(_ w: WeightMatrix, _ x: UnsafePointer<Float>, batch: Int, into y: UnsafeMutablePointer<Float>,
                               pool: ThreadPool, reference: Bool = false) {
        let fn = kernel(w, reference: reference)
        let format = activationFormat(w)
        let quantized = quantizeActivations(w, x, batch: batch, pool: pool)
        defer { quantized?.deallocate() }
        let xa = quantized.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(x)
        let rows = w.rows, columns = w.columns, data = w.data
        // Units of the kernels' row group (4 rows, or a packed group of 8), one contiguous range
        // per thread; small products stay on one thread.
        let unitRows = w.layout == .interleaved8 ? Int(NGK_PACK_ROWS) : 4
        let unitBytes = w.layout == .interleaved8 ? w.groupBytes : 4 * w.rowBytes
        let stride = w.layout == .interleaved8 ? w.groupBytes : w.rowBytes
        let units = (rows + unitRows - 1) / unitRows
        let minimumUnits = max(1, 4 * 16_384 / max(1, unitBytes * batch))
        pool.parallelFor(units, minimumPerThread: minimumUnits) { range in
            let r0 = range.lowerBound * unitRows, r1 = min(rows, range.upperBound * unitRows)
            fn(data + range.lowerBound * unitBytes, stride, r1 - r0, columns, xa, format.bytes, batch, y + r0, rows)
        }
    }

    /// Dequantizes `count` consecutive rows starting at `row` to f32.
    static func dequantizeRows(_ w: WeightMatrix, row: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        if w.layout != .rowMajor {
            let rowMajor = UnsafeMutableRawPointer.allocate(byteCount: count * w.rowBytes, alignment: 64)
            defer { rowMajor.deallocate() }
            w.copyRows(row, count: count, into: rowMajor)
            dequantizeRows(WeightMatrix(type: w.type, rows: count, columns: w.columns, data: rowMajor), row: 0, count: count, into: out)
            return
        }
        let src = w.data + row * w.rowBytes
        let n = count * w.columns
        let s8 = src.assumingMemoryBound(to: UInt8.self)
        let s16 = src.assumingMemoryBound(to: UInt16.self)
        switch w.type {
        case .f32: out.update(from: src.assumingMemoryBound(to: Float.self), count: n)
        case .f16: ngk_fp16_to_fp32_row(s16, out, n)
        case .bf16: ngk_bf16_to_fp32_row(s16, out, n)
        case .q8_0: ngk_dequantize_q8_0(s8, out, n)
        case .q4_0: ngk_dequantize_q4_0(s8, out, n)
        case .q4_K: ngk_dequantize_q4_k(s8, out, n)
        default: preconditionFailure("no matrix product for \(w.type) weights")
        }
    }

    static func multiplyBLAS(_ w: WeightMatrix, _ x: UnsafePointer<Float>, batch: Int, into y: UnsafeMutablePointer<Float>,
                             context: ExecutionContext) {
        let pool = context.pool
        let rows = w.rows, columns = w.columns
        if w.type == .f32 {
            Kernels.sgemm(transB: true, m: batch, n: rows, k: columns, a: x, lda: columns,
                          b: w.data.assumingMemoryBound(to: Float.self), ldb: columns, c: y, ldc: rows, context: context)
            return
        }
        // Panels of ~8 MB of f32 weights: big enough for sgemm to run at full speed, small enough
        // to stay out of the way. Dequantization and sgemm are both split over the context's pool
        // (they never run at once).
        let panelRows = min(rows, max(64, (8 << 20) / (columns * 4) / 16 * 16))
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: panelRows * columns)
        defer { panel.deallocate() }
        var p0 = 0
        while p0 < rows {
            let n = min(panelRows, rows - p0)
            pool.parallelFor(n, minimumPerThread: 16) { range in
                dequantizeRows(w, row: p0 + range.lowerBound, count: range.count, into: panel + range.lowerBound * columns)
            }
            Kernels.sgemm(transB: true, m: batch, n: n, k: columns, a: x, lda: columns, b: panel, ldb: columns,
                          c: y + p0, ldc: rows, context: context)
            p0 += n
        }
    }
}
