import CNextGPTKernels
import COpenBLAS

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
        /// Q8_0 / Q4_0 / Q4_K weights × 8-bit activations through the tiled integer GEMM (AVX-512 VNNI
        /// where the CPU has it): repacked weights as they are, row-major ones repacked panel by
        /// panel as they are read. Other weight types take the `.automatic` rule.
        case integerGEMM
        /// Repacked Q8_0 weights × activations quantized 16 positions to a vector through the lane
        /// GEMM (AVX-512 VNNI contexts; `LaneGEMM.swift`), at every batch. Other weights take the
        /// `.automatic` rule.
        case laneGEMM
    }

    /// The batch from which `.automatic` takes the BLAS path (measured per type: `GGMLTypeTraits`).
    public static func blasThreshold(for type: GGMLType) -> Int { type.traits.blasThreshold }

    /// The batch from which `.automatic` dequantizes repacked weights for sgemm: 4096, except
    /// Q8_0 at the AVX2 level, whose integer products have no VNNI (`pmaddubsw` + `pmaddwd`), so
    /// what they cost against an f32 FMA depends on the core:
    /// - where 256-bit ops run as two halves (Zen 1) they cost what an FMA does, and sgemm wins
    ///   from 1024 positions: on an AVX2-only Zen 1 EPYC, 2 threads, median of 5 alternating
    ///   rounds (`BENCH_SECTIONS=blasq8 nextgpt-bench`), sgemm ran 1024×1280→320 1.22× and
    ///   2048×320→2560 1.15× as fast as the integer kernels, 512×640→5120 0.93×;
    /// - on full-width cores the direct kernels win or tie at every batch, and sgemm is never
    ///   taken: on a Zen 3 EPYC the same bench gave sgemm 0.76–0.95× their rate at 512–8192
    ///   positions, 1.00–1.06× only at 1280→320; inside SD's loop at 512² the direct kernels ran
    ///   the UNet's linears at 193–212 GFLOP/s, sgemm at 142–168.
    public static func packedBLASThreshold(for type: GGMLType, level: KernelLevel, splits256BitOps: Bool) -> Int {
        guard type == .q8_0 && level == .avx2 else { return 4096 }
        return splits256BitOps ? 1024 : .max
    }

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
        if prefersLaneGEMM(w, batch: batch, context: context) {
            multiplyLanes(w, x, batch: batch, into: y, pool: context.pool)
            return
        }
        if w.type.traits.interleaved != nil && prefersIntegerGEMM(w, batch: batch, path: context.matmulPath, level: context.kernelLevel) {
            multiplyIntegerGEMM(w, x, batch: batch, into: y, pool: context.pool, level: context.kernelLevel)
            return
        }
        let useBLAS: Bool
        switch context.matmulPath {
        // Repacked Q8_0/Q4_0: the direct kernels take 4 activations per weight load and beat
        // dequantize + sgemm at every batch measured (7B Q4_0, 2 threads: 64 tokens 11.4 vs 7.3
        // tok/s, 512 tokens 12.2 vs 9.3).
        // Very large batches (SD's 4096-position layers ×2) still go to sgemm on dequantized
        // panels, by `packedBLASThreshold`: the UNet's linears at 8192 rows ran 7.6 s that way
        // against 8.2 s direct (Q4_0), and Q8_0 at the AVX2 level depends on the core.
        case .automatic, .integerGEMM, .laneGEMM: useBLAS = batch >= (w.layout == .rowMajor ? blasThreshold(for: w.type)
                                                                         : packedBLASThreshold(for: w.type, level: context.kernelLevel,
                                                                                               splits256BitOps: context.splits256BitOps))
        case .direct: useBLAS = false
        case .blas: useBLAS = true
        }
        if useBLAS {
            multiplyBLAS(w, x, batch: batch, into: y, context: context)
        } else {
            multiplyDirect(w, x, batch: batch, into: y, pool: context.pool, level: context.kernelLevel, split: context.rowSplit)
        }
    }

    /// The activation format the direct kernel of `type` reads: bytes per activation row, and
    /// the quantizer (nil: f32 as given).
    static func activationFormat(_ type: GGMLType, columns: Int) -> (bytes: Int, quantize: ActivationQuantizer?) {
        guard let format = type.traits.activation else { return (columns * 4, nil) }
        return (columns / format.elementsPerBlock * format.bytesPerBlock, format.quantize)
    }

    /// The activation format of the kernel that reads `w` in its layout.
    static func activationFormat(_ w: WeightMatrix) -> (bytes: Int, quantize: ActivationQuantizer?) {
        guard w.layout == .interleaved8, let packed = w.type.traits.interleaved else { return activationFormat(w.type, columns: w.columns) }
        return (w.columns / packed.activationBlockSize * packed.activationBytesPerBlock, packed.quantize)
    }

    /// The kernel that reads `w` in its layout at `level` (`.scalar` or `reference`: the scalar twin).
    static func kernel(_ w: WeightMatrix, level: KernelLevel = .machine, reference: Bool = false) -> MVKernel {
        guard w.layout == .interleaved8 else { return kernel(w.type, level: level, reference: reference) }
        guard let packed = w.type.traits.interleaved else { preconditionFailure("no interleaved layout for \(w.type) weights") }
        if reference || level == .scalar { return packed.reference }
        return level == .avx512VNNI ? packed.vnni : packed.fast
    }

    /// The row-major kernel of `type` at `level` (no AVX-512 bodies yet: the baseline SIMD ones).
    static func kernel(_ type: GGMLType, level: KernelLevel = .machine, reference: Bool = false) -> MVKernel {
        guard let kernel = type.traits.kernel else { preconditionFailure("no matrix product for \(type) weights") }
        return reference || level == .scalar ? kernel.reference : kernel.fast
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
                               pool: ThreadPool, level: KernelLevel = .machine, split: RowSplit = .contiguous,
                               reference: Bool = false) {
        let fn = kernel(w, level: level, reference: reference)
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
        let body = { (range: Range<Int>) in
            let r0 = range.lowerBound * unitRows, r1 = min(rows, range.upperBound * unitRows)
            fn(data + range.lowerBound * unitBytes, stride, r1 - r0, columns, xa, format.bytes, batch, y + r0, rows)
        }
        let participants = min(pool.threads, max(1, units / minimumUnits))
        if split == .chunks && participants > 1 {
            pool.parallelFor(units, chunk: max(minimumUnits, units / (8 * participants)), participants: participants, body)
        } else {
            pool.parallelFor(units, minimumPerThread: minimumUnits, body)
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
        guard let decode = w.type.traits.panelDecode else { preconditionFailure("no matrix product for \(w.type) weights") }
        decode(w.data + row * w.rowBytes, count * w.columns, out)
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
