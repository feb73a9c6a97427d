import CNextGPTKernels
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

/// The lane GEMM (`matmul_lanes.c`, `Matmul.Path.laneGEMM`, `Convolution.conv2dLanes`): its
/// quantizers' bytes against their scalar twins and the split format's, its GEMM body against its
/// scalar twin, and products and convolutions through it against the tiled integer GEMM / the
/// patch-row path (same quantized activations, same block order: float rounding apart, 1e-6) and
/// against f32 dequantized weights (the activations' 8-bit error only).
final class LaneGEMMTests: XCTestCase {
    func requireVNNI() throws {
        try XCTSkipUnless(Matmul.integerGEMMAccelerated, "skipped: no AVX-512 (VNNI)")
    }

    func randomQ8(rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var rng = Xorshift64(seed: seed)
        var bytes = (0..<(rows * columns / 32 * 34)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for blk in 0..<(bytes.count / 34) {
            let h = ngk_fp32_to_fp16(0.002 + rng.triangular(0.01))
            bytes[blk * 34] = UInt8(h & 0xff)
            bytes[blk * 34 + 1] = UInt8(h >> 8)
        }
        return bytes
    }

    /// Inputs with every 29th value 40× larger, so activation bytes reach ±127 and zeros appear.
    func activations(_ count: Int, seed: UInt64) -> [Float] {
        var rng = Xorshift64(seed: seed)
        return rng.triangulars(count, scale: 2).enumerated().map { $0.offset % 29 == 0 ? $0.element * 40 : ($0.offset % 31 == 0 ? 0 : $0.element) }
    }

    func lanesBytes(positions: Int, columns: Int) -> Int {
        (positions + 15) / 16 * columns / 32 * Int(NGK_LANES_BLOCK_BYTES)
    }

    /// The scalar lanes quantizer stores the split format's quants (+128) and scales (runs everywhere).
    func testLanesHoldTheSplitFormatsValues() {
        let columns = 96, positions = 19
        let x = activations(positions * columns, seed: 3)
        var lanes = [UInt8](repeating: 0xee, count: lanesBytes(positions: positions, columns: columns))
        ngk_lanes_rows_q8_0_ref(x, columns, positions, columns, &lanes)
        let blocks = columns / 32
        for p in 0..<positions {
            var split = [UInt8](repeating: 0, count: blocks * 40)
            x.withUnsafeBufferPointer { ngk_quantize_act_q8_0_split($0.baseAddress! + p * columns, &split, columns) }
            for k in 0..<blocks {
                let block = ((p / 16) * blocks + k) * Int(NGK_LANES_BLOCK_BYTES), lane = p % 16
                for j in 0..<32 {
                    XCTAssertEqual(Int(lanes[block + 64 * (j / 4) + 4 * lane + j % 4]) - 128, Int(Int8(bitPattern: split[32 * k + j])),
                                   "position \(p) block \(k) value \(j)")
                }
                XCTAssertEqual(Array(lanes[(block + 512 + 4 * lane)..<(block + 516 + 4 * lane)]),
                               Array(split[(blocks * 32 + 4 * k)..<(blocks * 32 + 4 * k + 4)]), "position \(p) block \(k) scale")
            }
        }
        // Padding positions: zero quants, zero scales.
        let last = ((positions / 16) * blocks) * Int(NGK_LANES_BLOCK_BYTES)
        XCTAssertEqual(lanes[last + 4 * 15], 128)
        XCTAssertEqual(lanes[last + 512 + 4 * 15], 0)
    }

    func testRowQuantizerMatchesScalarTwin() throws {
        try requireVNNI()
        for columns in [32, 96, 416] {
            for positions in [1, 15, 16, 17, 40] {
                let ldx = columns + 32
                let x = activations(positions * ldx, seed: UInt64(columns + positions))
                let n = lanesBytes(positions: positions, columns: columns)
                var fast = [UInt8](repeating: 0xee, count: n), slow = [UInt8](repeating: 0xdd, count: n)
                ngk_lanes_rows_q8_0(x, ldx, positions, columns, &fast)
                ngk_lanes_rows_q8_0_ref(x, ldx, positions, columns, &slow)
                XCTAssertEqual(fast, slow, "columns \(columns) positions \(positions)")
            }
        }
    }

    /// (c, h, w, kernel, stride, padding): 3×3 on planes whose rows are and are not whole vectors
    /// of positions, a strided one (gathers), SD's 1×1, and the temporal (3, 1) over frames.
    static let geometries: [(Int, Int, Int, [Int], [Int], [Int])] = [
        (32, 7, 9, [3, 3], [1, 1], [1, 1]), (32, 16, 16, [3, 3], [1, 1], [1, 1]), (64, 9, 9, [3, 3], [2, 2], [1, 1]),
        (32, 6, 6, [1, 1], [1, 1], [0, 0]), (32, 5, 40, [3, 1], [1, 1], [1, 0]), (96, 8, 20, [3, 3], [1, 1], [1, 1]),
    ]

    func testConvQuantizerMatchesScalarTwin() throws {
        try requireVNNI()
        for (c, h, w, k, s, pad) in Self.geometries {
            let oh = (h + 2 * pad[0] - k[0]) / s[0] + 1, ow = (w + 2 * pad[1] - k[1]) / s[1] + 1
            var g = ngk_conv_geometry(c: c, h: h, w: w, kh: k[0], kw: k[1], sh: s[0], sw: s[1], ph: pad[0], pw: pad[1], oh: oh, ow: ow)
            let x = activations(c * h * w, seed: UInt64(c * h + w))
            let columns = c * k[0] * k[1]
            for (first, count) in [(0, oh * ow), (5, min(21, oh * ow - 5))] {
                let n = lanesBytes(positions: count, columns: columns)
                var fast = [UInt8](repeating: 0xee, count: n), slow = [UInt8](repeating: 0xdd, count: n)
                ngk_lanes_conv_q8_0(x, &g, first, count, &fast)
                ngk_lanes_conv_q8_0_ref(x, &g, first, count, &slow)
                XCTAssertEqual(fast, slow, "conv \(c)×\(h)×\(w) kernel \(k) stride \(s) positions \(first)+\(count)")
            }
        }
    }

    func testGEMMMatchesScalarTwin() throws {
        try requireVNNI()
        for columns in [32, 96, 416] {
            for rows in [1, 8, 9, 37] {
                for positions in [1, 16, 17, 70] {
                    let w = randomQ8(rows: rows, columns: columns, seed: UInt64(rows * 100 + columns + positions))
                    let x = activations(positions * columns, seed: UInt64(columns * 7 + positions))
                    var rng = Xorshift64(seed: UInt64(rows))
                    let bias = rng.triangulars(rows)
                    var lanes = [UInt8](repeating: 0, count: lanesBytes(positions: positions, columns: columns))
                    ngk_lanes_rows_q8_0_ref(x, columns, positions, columns, &lanes)
                    w.withUnsafeBytes { wb in
                        let m = WeightMatrix(type: .q8_0, rows: rows, columns: columns, data: wb.baseAddress!).repacked(context: .default)
                        let table = Matmul.laneTable(m, pool: ExecutionContext.default.pool)
                        defer { table.deallocate() }
                        for positionMajor in [Int32(0), 1] {
                            let ldy = (positionMajor == 1 ? rows : positions) + 3
                            let count = (positionMajor == 1 ? positions : rows) * ldy
                            var fast = [Float](repeating: .nan, count: count), slow = fast
                            ngk_lanes_gemm_q8_0x8(m.data, m.groupBytes, table, rows, columns, lanes, positions, &fast, ldy, positionMajor, bias)
                            ngk_lanes_gemm_q8_0x8_ref(m.data, m.groupBytes, table, rows, columns, lanes, positions, &slow, ldy, positionMajor, bias)
                            let used = (0..<count).filter { !slow[$0].isNaN }
                            XCTAssertEqual(used.count, rows * positions)
                            XCTAssertTrue((0..<count).allSatisfy { slow[$0].isNaN == fast[$0].isNaN }, "wrote outside the product")
                            let err = relativeL2(used.map { fast[$0] }, used.map { slow[$0] })
                            XCTAssertLessThanOrEqual(err, 1e-6, "rows \(rows) columns \(columns) positions \(positions) major \(positionMajor): rel L2 \(err)")
                        }
                    }
                }
            }
        }
    }

    /// `Matmul.multiply` on `.laneGEMM` against the tiled integer GEMM (same quantized activations)
    /// and against f32 dequantized weights, 1 and 2 threads.
    func testLaneGEMMPathMatchesIntegerGEMM() throws {
        try requireVNNI()
        for (rows, columns, batch) in [(37, 96, 5), (130, 160, 70), (1280, 1280, 257), (200, 5120, 19)] {
            let w = randomQ8(rows: rows, columns: columns, seed: UInt64(rows &* 31 + columns + batch))
            var rng = Xorshift64(seed: UInt64(rows + batch))
            let x = rng.triangulars(batch * columns, scale: 2)
            w.withUnsafeBytes { wb in
                let repacked = WeightMatrix(type: .q8_0, rows: rows, columns: columns, data: wb.baseAddress!).repacked(context: .default)
                var integer = ExecutionContext(threads: 1), blas = integer
                integer.matmulPath = .integerGEMM
                blas.matmulPath = .blas
                var expected = [Float](repeating: .nan, count: batch * rows), exact = expected
                Matmul.multiply(repacked, x, batch: batch, into: &expected, context: integer)
                Matmul.multiply(repacked, x, batch: batch, into: &exact, context: blas)
                for threads in [1, 2] {
                    var context = ExecutionContext(threads: threads)
                    context.matmulPath = .laneGEMM
                    var y = [Float](repeating: .nan, count: batch * rows)
                    Matmul.multiply(repacked, x, batch: batch, into: &y, context: context)
                    let err = relativeL2(y, expected)
                    XCTAssertLessThanOrEqual(err, 1e-6, "\(rows)×\(columns) batch \(batch) threads \(threads): rel L2 \(err) to the integer GEMM")
                    let quantization = relativeL2(y, exact)
                    XCTAssertLessThanOrEqual(quantization, 1e-2, "\(rows)×\(columns) batch \(batch): rel L2 \(quantization) to f32 activations")
                }
            }
        }
    }

    /// Convolutions of repacked Q8_0 kernels: the lane path (fast and scalar twins) against the
    /// patch-row path through the integer GEMM, and against f32 activations (`.blas`).
    func testConvolutionLanesMatchPatchRows() throws {
        try requireVNNI()
        for (c, h, w, k, s, pad) in Self.geometries {
            let o = 40, n = 2, columns = c * k[0] * k[1]
            let bytes = randomQ8(rows: o, columns: columns, seed: UInt64(c + h * w))
            var rng = Xorshift64(seed: UInt64(c * 3 + w))
            let bias = Tensor(shape: [o], values: rng.triangulars(o))
            let x = Tensor(shape: [n, c, h, w], values: activations(n * c * h * w, seed: UInt64(h * w + c)))
            bytes.withUnsafeBytes { wb in
                let packed = WeightMatrix(type: .q8_0, rows: o, columns: columns, data: wb.baseAddress!).repacked(context: .default)
                var rows = ExecutionContext(threads: 2), blas = rows
                rows.matmulPath = .integerGEMM
                blas.matmulPath = .blas
                let expected = Convolution.conv2d(x, matrix: packed, kernel: k, bias: bias, stride: s, padding: pad, context: rows)
                let exact = Convolution.conv2d(x, matrix: packed, kernel: k, bias: bias, stride: s, padding: pad, context: blas)
                for threads in [1, 2] {
                    var lanes = ExecutionContext(threads: threads)
                    lanes.matmulPath = .laneGEMM
                    let y = Convolution.conv2d(x, matrix: packed, kernel: k, bias: bias, stride: s, padding: pad, context: lanes)
                    XCTAssertEqual(y.shape, expected.shape)
                    let err = relativeL2(y, expected)
                    XCTAssertLessThanOrEqual(err, 1e-6, "conv \(c)×\(h)×\(w) kernel \(k) stride \(s), \(threads) threads: rel L2 \(err) to patch rows")
                    let quantization = relativeL2(y, exact)
                    // Every 29th input is 40× the rest: blocks holding one quantize the others coarsely.
                    XCTAssertLessThanOrEqual(quantization, 2e-2, "conv \(c)×\(h)×\(w) kernel \(k): rel L2 \(quantization) to f32 activations")
                }
                let twin = Convolution.conv2dLanes(x, matrix: packed, kernel: k, bias: bias, stride: s, padding: pad,
                                                   context: rows, reference: true)
                let err = relativeL2(twin, expected)
                XCTAssertLessThanOrEqual(err, 1e-6, "conv \(c)×\(h)×\(w) kernel \(k): scalar twins, rel L2 \(err)")
            }
        }
    }

    /// `.automatic` takes the lane GEMM for repacked Q8_0 from the context's minimum, never below
    /// the AVX-512 VNNI level, never for row-major weights, never on `.blas` or `.integerGEMM`.
    func testAutomaticRule() {
        let bytes = randomQ8(rows: 8, columns: 32, seed: 1)
        bytes.withUnsafeBytes { wb in
            let plain = WeightMatrix(type: .q8_0, rows: 8, columns: 32, data: wb.baseAddress!)
            let packed = plain.repacked(context: .default)
            var context = ExecutionContext(threads: 1)
            let t = context.laneGEMMMinimumPositions
            XCTAssertEqual(t, Matmul.laneGEMMThreshold)
            let vnni = KernelLevel.machine == .avx512VNNI
            XCTAssertEqual(Matmul.prefersLaneGEMM(packed, batch: t, context: context), vnni)
            XCTAssertFalse(Matmul.prefersLaneGEMM(packed, batch: t - 1, context: context))
            XCTAssertFalse(Matmul.prefersLaneGEMM(plain, batch: t, context: context))
            context.laneGEMMMinimumPositions = .max
            XCTAssertFalse(Matmul.prefersLaneGEMM(packed, batch: 1 << 20, context: context))
            context.laneGEMMMinimumPositions = 1
            XCTAssertEqual(Matmul.prefersLaneGEMM(packed, batch: 1, context: context), vnni)
            for path in [Matmul.Path.blas, .integerGEMM, .direct] {
                context.matmulPath = path
                XCTAssertFalse(Matmul.prefersLaneGEMM(packed, batch: t, context: context))
            }
            context.matmulPath = .laneGEMM
            XCTAssertEqual(Matmul.prefersLaneGEMM(packed, batch: 1, context: context), vnni)
            context.kernelLevel = .scalar
            XCTAssertFalse(Matmul.prefersLaneGEMM(packed, batch: t, context: context))
        }
    }
}
