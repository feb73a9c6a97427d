import CNextGPTKernels

/// A matrix-vector kernel of the C target: (weights, row stride, rows, columns, activations,
/// activation row bytes, batch, y, y row stride).
typealias MVKernel = @convention(c) (UnsafeRawPointer?, Int, Int, Int, UnsafeRawPointer?, Int, Int, UnsafeMutablePointer<Float>?, Int) -> Void

/// Quantizes one row of f32 activations into a kernel's activation format.
typealias ActivationQuantizer = @convention(c) (UnsafePointer<Float>?, UnsafeMutablePointer<UInt8>?, Int) -> Void

/// Everything the runtime knows about one ggml type, in one row: its block layout, how values
/// go in and out of it, which matrix kernel reads it and in what activation format, and when
/// batches are better served by sgemm. A new type is one new row here.
struct GGMLTypeTraits: Sendable {
    let name: String
    let blockSize: Int
    let blockBytes: Int
    /// f32 → blocks (`count` whole blocks); nil for integer types, which are copied, never encoded.
    let encode: (@Sendable (UnsafePointer<Float>, Int, UnsafeMutableRawPointer) -> Void)?
    /// Blocks → f32, as the container's readers decode (ggml's reference dequantizers).
    let decode: @Sendable (UnsafeRawPointer, Int, UnsafeMutablePointer<Float>) -> Void
    /// Blocks → f32 for weight panels that feed sgemm (the fast dequantizers where there are any).
    let panelDecode: (@Sendable (UnsafeRawPointer, Int, UnsafeMutablePointer<Float>) -> Void)?
    /// Row-major matrix kernel and its scalar twin; nil when the type has no matrix product.
    let kernel: (fast: MVKernel, reference: MVKernel)?
    /// Bytes of activations per block of 32 (or of the type's block) the kernel reads, and the
    /// quantizer that makes them; nil: f32 activations as given.
    let activation: (bytesPerBlock: Int, elementsPerBlock: Int, quantize: ActivationQuantizer)?
    /// The batch from which `Matmul.Path.automatic` dequantizes panels for sgemm.
    let blasThreshold: Int
    /// The 8-row interleaved layout (`WeightMatrix.repacked`); nil for types without one.
    let interleaved: InterleavedLayout?
}

/// The 8-row interleaved layout of a type (`WeightMatrix.repacked`): how rows go in and out of
/// it, its kernels and their scalar twins, and the activation format they read.
struct InterleavedLayout: Sendable {
    /// Matrix-vector kernel (AVX2 / NEON body) and its scalar twin.
    let fast: MVKernel
    let reference: MVKernel
    /// Activation bytes per `activationBlockSize` values (Q8_0/Q4_0: the split format's 40 bytes
    /// per 32 — quants, f32 scale, block sum; Q4_K: a Q8_K block, 292 per 256), and its quantizer.
    let activationBytesPerBlock: Int
    let activationBlockSize: Int
    let quantize: ActivationQuantizer
    /// The tiled integer GEMM over the same layout and format (`Matmul.Path.integerGEMM`).
    let gemm: (fast: MVKernel, reference: MVKernel)
    /// The AVX-512 VNNI body of `fast` (`KernelLevel.avx512VNNI`).
    let vnni: MVKernel
    /// Bytes of one block column of one group of 8 rows.
    let groupBlockBytes: Int
    /// Groups [g0, g1) of `rows` row-major rows of `blocks` blocks (source, rows, blocks, g0, g1, destination).
    let pack: @Sendable (UnsafePointer<UInt8>, Int, Int, Int, Int, UnsafeMutablePointer<UInt8>) -> Void
    /// Rows [row0, row0 + count) back to the container's blocks (packed, blocks, row0, count, destination).
    let unpack: @Sendable (UnsafePointer<UInt8>, Int, Int, Int, UnsafeMutablePointer<UInt8>) -> Void

    /// Q8_0 / Q4_0: one layout, `blockBytes` per row and block (`ngk_pack_rows_x8`).
    static func q0(fast: MVKernel, reference: MVKernel, gemm: (fast: MVKernel, reference: MVKernel), vnni: MVKernel,
                   blockBytes: Int) -> InterleavedLayout {
        InterleavedLayout(fast: fast, reference: reference, activationBytesPerBlock: 40, activationBlockSize: 32,
                          quantize: ngk_quantize_act_q8_0_split, gemm: gemm, vnni: vnni, groupBlockBytes: Int(NGK_PACK_ROWS) * blockBytes,
                          pack: { src, rows, blocks, g0, g1, dst in ngk_pack_rows_x8(src, rows, blocks, blockBytes, g0, g1, dst) },
                          unpack: { packed, blocks, row0, count, dst in ngk_unpack_rows_x8(packed, blocks, blockBytes, row0, count, dst) })
    }
}

extension GGMLType {
    /// This type's row of the table.
    var traits: GGMLTypeTraits { GGMLType.table[self]! }

    private static func plain(_ name: String, bytes: Int, decode: @escaping @Sendable (UnsafeRawPointer, Int, UnsafeMutablePointer<Float>) -> Void,
                              encode: (@Sendable (UnsafePointer<Float>, Int, UnsafeMutableRawPointer) -> Void)? = nil) -> GGMLTypeTraits {
        GGMLTypeTraits(name: name, blockSize: 1, blockBytes: bytes, encode: encode, decode: decode, panelDecode: nil, kernel: nil,
                       activation: nil, blasThreshold: Int.max, interleaved: nil)
    }

    // The thresholds were measured on the 2-core EPYC (AVX2, 2 threads, 4096×4096 weights,
    // tools/bench/bench_kernels.sh "crossover" section, ms per call direct/blas): the direct
    // kernels cost ≈ linear in the batch (the 4-row weight group stays in L1 while every
    // activation passes), dequantize + sgemm has a fixed ≈ 20–30 ms floor for 16 M weights and
    // then grows slowly. Direct still won at 16–24 for every type and at 32 for q8_0/q4_K/f16;
    // BLAS won at 64 for f32/f16/q4_0/q4_K and at 32 for f32/q4_0 (noisy machine: ±20%). A second
    // run: q4_K direct still won at 64 (20 vs 25 ms) but lost at 512 (200 vs 129 ms).
    private static let table: [GGMLType: GGMLTypeTraits] = [
        .f32: GGMLTypeTraits(
            name: "f32", blockSize: 1, blockBytes: 4,
            encode: { x, n, y in y.copyMemory(from: x, byteCount: n * 4) },
            decode: { x, n, y in UnsafeMutableRawPointer(y).copyMemory(from: x, byteCount: n * 4) },
            panelDecode: { x, n, y in UnsafeMutableRawPointer(y).copyMemory(from: x, byteCount: n * 4) },
            kernel: (ngk_mv_f32, ngk_mv_f32_ref), activation: nil, blasThreshold: 32, interleaved: nil),
        .f16: GGMLTypeTraits(
            name: "f16", blockSize: 1, blockBytes: 2,
            encode: { x, n, y in ngk_fp32_to_fp16_row(x, y.assumingMemoryBound(to: UInt16.self), n) },
            decode: { x, n, y in ngk_fp16_to_fp32_row(x.assumingMemoryBound(to: UInt16.self), y, n) },
            panelDecode: { x, n, y in ngk_fp16_to_fp32_row(x.assumingMemoryBound(to: UInt16.self), y, n) },
            kernel: (ngk_mv_f16, ngk_mv_f16_ref), activation: nil, blasThreshold: 48, interleaved: nil),
        .bf16: GGMLTypeTraits(
            name: "bf16", blockSize: 1, blockBytes: 2,
            encode: { x, n, y in ngk_fp32_to_bf16_row(x, y.assumingMemoryBound(to: UInt16.self), n) },
            decode: { x, n, y in ngk_bf16_to_fp32_row(x.assumingMemoryBound(to: UInt16.self), y, n) },
            panelDecode: { x, n, y in ngk_bf16_to_fp32_row(x.assumingMemoryBound(to: UInt16.self), y, n) },
            kernel: (ngk_mv_bf16, ngk_mv_bf16_ref), activation: nil, blasThreshold: 48, interleaved: nil),
        .q8_0: GGMLTypeTraits(
            name: "q8_0", blockSize: 32, blockBytes: Int(NGK_Q8_0_BYTES),
            encode: { x, n, y in ngk_quantize_q8_0(x, y.assumingMemoryBound(to: UInt8.self), n) },
            decode: { x, n, y in ngk_dequantize_q8_0(x.assumingMemoryBound(to: UInt8.self), y, n) },
            panelDecode: { x, n, y in ngk_dequantize_q8_0(x.assumingMemoryBound(to: UInt8.self), y, n) },
            kernel: (ngk_mv_q8_0, ngk_mv_q8_0_ref), activation: (Int(NGK_Q8_0_BYTES), 32, ngk_quantize_act_q8_0),
            blasThreshold: 64, interleaved: .q0(fast: ngk_mv_q8_0x8, reference: ngk_mv_q8_0x8_ref,
                                                gemm: (ngk_gemm_q8_0x8, ngk_gemm_q8_0x8_ref), vnni: ngk_mv_q8_0x8_vnni,
                                                blockBytes: Int(NGK_Q8_0_BYTES))),
        .q4_0: GGMLTypeTraits(
            name: "q4_0", blockSize: 32, blockBytes: Int(NGK_Q4_0_BYTES),
            encode: { x, n, y in ngk_quantize_q4_0(x, y.assumingMemoryBound(to: UInt8.self), n) },
            decode: { x, n, y in ngk_dequantize_q4_0(x.assumingMemoryBound(to: UInt8.self), y, n) },
            panelDecode: { x, n, y in ngk_dequantize_q4_0(x.assumingMemoryBound(to: UInt8.self), y, n) },
            kernel: (ngk_mv_q4_0, ngk_mv_q4_0_ref), activation: (Int(NGK_Q8_0_BYTES), 32, ngk_quantize_act_q8_0),
            blasThreshold: 32, interleaved: .q0(fast: ngk_mv_q4_0x8, reference: ngk_mv_q4_0x8_ref,
                                                gemm: (ngk_gemm_q4_0x8, ngk_gemm_q4_0x8_ref), vnni: ngk_mv_q4_0x8_vnni,
                                                blockBytes: Int(NGK_Q4_0_BYTES))),
        .q4_K: GGMLTypeTraits(
            name: "q4_K", blockSize: 256, blockBytes: Int(NGK_Q4_K_BYTES),
            encode: { x, n, y in ngk_quantize_q4_k_ref(x, y.assumingMemoryBound(to: UInt8.self), n) },
            decode: { x, n, y in ngk_dequantize_q4_k_ref(x.assumingMemoryBound(to: UInt8.self), y, n) },
            panelDecode: { x, n, y in ngk_dequantize_q4_k(x.assumingMemoryBound(to: UInt8.self), y, n) },
            kernel: (ngk_mv_q4_k, ngk_mv_q4_k_ref), activation: (Int(NGK_Q8_K_BYTES), 256, ngk_quantize_act_q8_k),
            blasThreshold: 96, interleaved: InterleavedLayout(
                fast: ngk_mv_q4_kx8, reference: ngk_mv_q4_kx8_ref, activationBytesPerBlock: Int(NGK_Q8_K_BYTES),
                activationBlockSize: 256, quantize: ngk_quantize_act_q8_k, gemm: (ngk_gemm_q4_kx8, ngk_gemm_q4_kx8_ref),
                vnni: ngk_mv_q4_kx8_vnni, groupBlockBytes: Int(NGK_Q4_KX8_BYTES),
                pack: { src, rows, blocks, g0, g1, dst in ngk_pack_rows_q4_kx8(src, rows, blocks, g0, g1, dst) },
                unpack: { packed, blocks, row0, count, dst in ngk_unpack_rows_q4_kx8(packed, blocks, row0, count, dst) })),
        .f64: plain("f64", bytes: 8,
                    decode: { x, n, y in for i in 0..<n { y[i] = Float(x.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) } },
                    encode: { x, n, y in for i in 0..<n { y.storeBytes(of: Double(x[i]), toByteOffset: 8 * i, as: Double.self) } }),
        .i64: plain("i64", bytes: 8, decode: { x, n, y in for i in 0..<n { y[i] = Float(x.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) } }),
        .i32: plain("i32", bytes: 4, decode: { x, n, y in for i in 0..<n { y[i] = Float(x.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) } }),
        .i16: plain("i16", bytes: 2, decode: { x, n, y in for i in 0..<n { y[i] = Float(x.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) } }),
        .i8: plain("i8", bytes: 1, decode: { x, n, y in for i in 0..<n { y[i] = Float(Int8(bitPattern: x.load(fromByteOffset: i, as: UInt8.self))) } }),
    ]
}
