import CNextGPTKernels

extension Matmul {
    /// Whether this CPU runs the integer GEMM's fast body (AVX-512 VNNI); without it the GEMM
    /// entry points fall back to the packed matrix-vector kernels and `.automatic` never picks it
    /// (nor does it on a context whose `kernelLevel` is below `.avx512VNNI`).
    public static let integerGEMMAccelerated = ngk_use_avx512vnni() != 0

    /// The batch from which `.automatic` sends Q8_0 / Q4_0 / Q4_K products to the integer GEMM (when
    /// `integerGEMMAccelerated`; row-major weights only up to their BLAS threshold). Measured on the 2-core EPYC (Zen 4), 2 threads, ImageBind's
    /// 1280×1280, 5120×1280, 1280×5120 and a 4096×4096 matrix (`BENCH_SECTIONS=integer
    /// nextgpt-bench`, a busy machine): from batch 8 it beat the direct kernels (1.3–2.5×) and
    /// dequantize + sgemm (2–7×) in both layouts for both types; at 257 (a ViT image) 3–4× over
    /// the better of the two. At 1–4 the direct kernels were as fast or faster (row-major ones need
    /// no panel repack).
    public static let integerGEMMThreshold = (rowMajor: 8, interleaved: 8)

    /// Rows of a row-major matrix each worker repacks into its own buffer and multiplies before
    /// the next: 64 rows of 5120 Q8_0 columns are 340 KiB, which stay in L2 while every
    /// activation panel passes.
    static let integerGEMMPanelRows = 64

    static func prefersIntegerGEMM(_ w: WeightMatrix, batch: Int, path: Path, level: KernelLevel = .machine) -> Bool {
        switch path {
        case .integerGEMM: return true
        case .direct, .blas: return false
        case .automatic, .laneGEMM:
            guard level == .avx512VNNI else { return false }
            switch w.layout {
            case .interleaved8: return batch >= integerGEMMThreshold.interleaved
            // Row-major weights keep f32 activations from the BLAS threshold on (`LoadOptions.repackQuantized`
            // documents it, MatmulTests holds `.automatic` to it): the integer GEMM replaces only the
            // direct kernels below it. `.integerGEMM` takes it at every batch.
            case .rowMajor: return batch >= integerGEMMThreshold.rowMajor && batch < blasThreshold(for: w.type)
            }
        }
    }

    /// y = W x for Q8_0 / Q4_0 / Q4_K `w` through `ngk_gemm_*` (below `.avx512VNNI`: the packed kernels
    /// of `level`, as the C entry points do without VNNI): activations quantized once into the
    /// split format, then row panels split over the pool; a row-major panel is first repacked
    /// into the worker's buffer.
    static func multiplyIntegerGEMM(_ w: WeightMatrix, _ x: UnsafePointer<Float>, batch: Int, into y: UnsafeMutablePointer<Float>,
                                    pool: ThreadPool, level: KernelLevel = .machine, reference: Bool = false) {
        guard let packed = w.type.traits.interleaved else { preconditionFailure("no integer GEMM for \(w.type) weights") }
        let gemm: MVKernel
        switch level {
        case .scalar: gemm = packed.gemm.reference
        case .avx512VNNI: gemm = reference ? packed.gemm.reference : packed.gemm.fast
        case .avx2, .neon: gemm = reference ? packed.gemm.reference : packed.fast
        }
        let rows = w.rows, columns = w.columns, blocks = columns / w.type.blockSize
        let activationBytes = columns / packed.activationBlockSize * packed.activationBytesPerBlock
        let activations = UnsafeMutableRawPointer.allocate(byteCount: batch * activationBytes, alignment: 64)
        defer { activations.deallocate() }
        let q = activations.assumingMemoryBound(to: UInt8.self)
        pool.parallelFor(batch, minimumPerThread: 4) { range in
            for b in range { packed.quantize(x + b * columns, q + b * activationBytes, columns) }
        }
        let xa = UnsafeRawPointer(activations)
        let panelRows = integerGEMMPanelRows, panels = (rows + panelRows - 1) / panelRows
        let groupBytes = w.groupBytes
        let data = w.data, layout = w.layout, rowBytes = w.rowBytes
        pool.parallelFor(panels) { range in
            let scratch = layout == .rowMajor ? UnsafeMutableRawPointer.allocate(byteCount: panelRows / 8 * groupBytes, alignment: 64) : nil
            defer { scratch?.deallocate() }
            for panel in range {
                let r0 = panel * panelRows, count = min(panelRows, rows - r0)
                let weights: UnsafeRawPointer
                if let scratch {
                    packed.pack((data + r0 * rowBytes).assumingMemoryBound(to: UInt8.self), count, blocks,
                                0, (count + 7) / 8, scratch.assumingMemoryBound(to: UInt8.self))
                    weights = UnsafeRawPointer(scratch)
                } else {
                    weights = data + r0 / Int(NGK_PACK_ROWS) * groupBytes
                }
                gemm(weights, groupBytes, count, columns, xa, activationBytes, batch, y + r0, rows)
            }
        }
    }
}
