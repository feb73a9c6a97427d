import CNextGPTKernels
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

/// Q4_K weights repacked into groups of 8 rows with their scales and mins unpacked
/// (`ngk_pack_rows_q4_kx8`): the exact round trip, the scalar twin against the row-major
/// `ngk_mv_q4_k_ref`, every SIMD body against the twin, and `Matmul` products against the
/// row-major ones. The integer sums per block (Σ sc·dot and Σ m·bsum) are exact in every body;
/// only the two f32 products per block and their accumulation are rounded differently (one FMA
/// each instead of a multiply, a subtraction and an add), so the bound is f32 rounding over a few
/// blocks with the d and dmin terms partly cancelling: 1e-5 relative L2.
final class PackedQ4KTests: XCTestCase {
    /// Random Q4_K blocks: every nibble and every 6-bit scale / min value, moderate f16 d and dmin.
    func randomBlocks(rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var rng = Xorshift64(seed: seed)
        let blockBytes = Int(NGK_Q4_K_BYTES)
        var bytes = (0..<(rows * columns / 256 * blockBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for blk in 0..<(bytes.count / blockBytes) {
            for (offset, value) in [(0, 0.0005 + rng.triangular(0.002)), (2, 0.0002 + rng.triangular(0.001))] {
                let h = ngk_fp32_to_fp16(value)
                bytes[blk * blockBytes + offset] = UInt8(h & 0xff)
                bytes[blk * blockBytes + offset + 1] = UInt8(h >> 8)
            }
        }
        return bytes
    }

    /// Activations with some large values, so that Q8_K bytes reach ±127.
    func activations(_ count: Int, seed: UInt64) -> [Float] {
        var rng = Xorshift64(seed: seed)
        return rng.triangulars(count, scale: 2).enumerated().map { $0.offset % 29 == 0 ? $0.element * 40 : $0.element }
    }

    func quantized(_ x: [Float], batch: Int, columns: Int) -> [UInt8] {
        let bytes = columns / 256 * Int(NGK_Q8_K_BYTES)
        var xa = [UInt8](repeating: 0, count: batch * bytes)
        xa.withUnsafeMutableBufferPointer { q in
            x.withUnsafeBufferPointer { xp in
                for b in 0..<batch { ngk_quantize_act_q8_k(xp.baseAddress! + b * columns, q.baseAddress! + b * bytes, columns) }
            }
        }
        return xa
    }

    func testRepackedRowsReadBackUnchanged() {
        for rows in [1, 7, 8, 9, 37] {
            for columns in [256, 768] {
                let w = randomBlocks(rows: rows, columns: columns, seed: UInt64(rows * 100 + columns))
                w.withUnsafeBytes { wb in
                    let packed = WeightMatrix(type: .q4_K, rows: rows, columns: columns, data: wb.baseAddress!).repacked(context: .default)
                    XCTAssertEqual(packed.layout, .interleaved8)
                    XCTAssertEqual(packed.byteCount, (rows + 7) / 8 * (columns / 256) * 1184)
                    var back = [UInt8](repeating: 0, count: w.count)
                    back.withUnsafeMutableBytes { packed.copyRows(0, count: rows, into: $0.baseAddress!) }
                    XCTAssertEqual(back, w, "\(rows)×\(columns)")
                    if rows > 3 {
                        var middle = [UInt8](repeating: 0, count: 2 * packed.rowBytes)
                        middle.withUnsafeMutableBytes { packed.copyRows(2, count: 2, into: $0.baseAddress!) }
                        XCTAssertEqual(middle, Array(w[(2 * packed.rowBytes)..<(4 * packed.rowBytes)]))
                    }
                }
            }
        }
    }

    /// The unpacked scales and mins are the 6-bit values of the file's 12 bytes (as ggml's
    /// get_scale_min_k4 decodes them), at the offsets nextgpt_matmul.h gives.
    func testUnpackedScalesAndMinsAreTheFileValues() {
        let w = randomBlocks(rows: 3, columns: 256, seed: 77)
        w.withUnsafeBytes { wb in
            let packed = WeightMatrix(type: .q4_K, rows: 3, columns: 256, data: wb.baseAddress!).repacked(context: .default)
            let p = packed.data.assumingMemoryBound(to: UInt8.self)
            for i in 0..<3 {
                let q = Array(w[(i * 144 + 4)..<(i * 144 + 16)])
                for j in 0..<8 {
                    let sc = j < 4 ? q[j] & 63 : (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)
                    let m = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
                    XCTAssertEqual(p[32 + j * 8 + i], sc, "row \(i) sub-block \(j) scale")
                    XCTAssertEqual(p[96 + ((j / 2) * 8 + i) * 2 + j % 2], m, "row \(i) sub-block \(j) min")
                }
            }
            for i in 3..<8 { XCTAssertEqual(p[32 + i], 0, "rows past the matrix are zero") }
        }
    }

    /// The packed scalar twin repeats ngk_mv_q4_k_ref's arithmetic on the same Q8_K activations.
    func testScalarTwinMatchesRowMajorReference() {
        for (rows, columns, nb) in [(13, 256, 1), (37, 768, 3), (8, 1280, 2)] {
            let w = randomBlocks(rows: rows, columns: columns, seed: UInt64(rows * 31 + columns))
            let xa = quantized(activations(nb * columns, seed: UInt64(columns + nb)), batch: nb, columns: columns)
            let xBytes = columns / 256 * Int(NGK_Q8_K_BYTES)
            var expected = [Float](repeating: .nan, count: nb * rows), twin = expected
            w.withUnsafeBytes { wb in
                let plain = WeightMatrix(type: .q4_K, rows: rows, columns: columns, data: wb.baseAddress!)
                let packed = plain.repacked(context: .default)
                ngk_mv_q4_k_ref(plain.data, plain.rowBytes, rows, columns, xa, xBytes, nb, &expected, rows)
                ngk_mv_q4_kx8_ref(packed.data, packed.groupBytes, rows, columns, xa, xBytes, nb, &twin, rows)
            }
            let err = relativeL2(twin, expected)
            XCTAssertLessThanOrEqual(err, 1e-6, "\(rows)×\(columns) batch \(nb): rel L2 \(err)")
        }
    }

    /// One body against the scalar twin on the same packed bytes and Q8_K activations: rows not a
    /// multiple of 8 or 16 (100: the VNNI body's single activations in passes of 64, 32 and 16
    /// rows), batches around the 4-activation tiles and past the 64-activation panel, several
    /// blocks per row, ldy past the rows (nothing written there).
    func checkBody(_ name: String, _ body: MVKernel) {
        for columns in [256, 768, 1280] {
            for rows in [1, 3, 8, 13, 16, 17, 37, 100] {
                for nb in [1, 2, 4, 5, 9, 70] where !(nb == 70 && columns > 256) {
                    let ldy = rows + 3
                    let w = randomBlocks(rows: rows, columns: columns, seed: UInt64(rows * 1000 + columns + nb))
                    let xa = quantized(activations(nb * columns, seed: UInt64(columns * 7 + nb)), batch: nb, columns: columns)
                    let xBytes = columns / 256 * Int(NGK_Q8_K_BYTES)
                    var fast = [Float](repeating: .nan, count: nb * ldy), slow = fast
                    w.withUnsafeBytes { wb in
                        let m = WeightMatrix(type: .q4_K, rows: rows, columns: columns, data: wb.baseAddress!).repacked(context: .default)
                        body(m.data, m.groupBytes, rows, columns, xa, xBytes, nb, &fast, ldy)
                        ngk_mv_q4_kx8_ref(m.data, m.groupBytes, rows, columns, xa, xBytes, nb, &slow, ldy)
                    }
                    var a: [Float] = [], b: [Float] = []
                    for bi in 0..<nb {
                        for r in 0..<rows { a.append(fast[bi * ldy + r]); b.append(slow[bi * ldy + r]) }
                        for r in rows..<ldy { XCTAssertTrue(fast[bi * ldy + r].isNaN, "\(name) wrote past its rows") }
                    }
                    let err = relativeL2(a, b)
                    XCTAssertLessThanOrEqual(err, 1e-5, "\(name) rows \(rows) columns \(columns) batch \(nb): rel L2 \(err)")
                }
            }
        }
    }

    func testAVX2BodyMatchesScalarTwin() throws {
        guard ngk_use_avx2() != 0 else { throw XCTSkip("skipped: no AVX2 on this CPU (the entry point runs the twin)") }
        checkBody("q4_Kx8 avx2", ngk_mv_q4_kx8)
    }

    func testVNNIBodyMatchesScalarTwin() throws {
        guard ngk_use_avx512vnni() != 0 else { throw XCTSkip("skipped: no AVX-512 (VNNI) on this CPU") }
        checkBody("q4_Kx8 vnni", ngk_mv_q4_kx8_vnni)
        checkBody("q4_Kx8 gemm", ngk_gemm_q4_kx8)
    }

    /// `Matmul.multiply` on the repacked copy against the row-major matrix (same Q8_K activations
    /// at these batches, so float rounding only), on every path that reads 8-bit activations, at
    /// every kernel level, 1 and 2 threads.
    func testRepackedProductsMatchRowMajorProducts() {
        for (rows, columns, batch) in [(37, 768, 1), (37, 512, 5), (203, 1024, 1), (130, 512, 19), (64, 256, 70)] {
            let w = randomBlocks(rows: rows, columns: columns, seed: UInt64(rows &* 31 + columns + batch))
            let x = activations(batch * columns, seed: UInt64(rows + batch))
            for level in Set(KernelLevel.allCases.map { KernelLevel.available(upTo: $0) }).sorted(by: { $0.rank < $1.rank }) {
                for path in [Matmul.Path.direct, .integerGEMM] {
                    for threads in [1, 2] {
                        var plainY = [Float](repeating: .nan, count: batch * rows), packedY = plainY
                        w.withUnsafeBytes { wb in
                            let plain = WeightMatrix(type: .q4_K, rows: rows, columns: columns, data: wb.baseAddress!)
                            var context = ExecutionContext(threads: threads)
                            context.matmulPath = .direct
                            context.kernelLevel = .scalar
                            Matmul.multiply(plain, x, batch: batch, into: &plainY, context: context)
                            context.matmulPath = path
                            context.kernelLevel = level
                            Matmul.multiply(plain.repacked(context: context), x, batch: batch, into: &packedY, context: context)
                        }
                        let err = relativeL2(packedY, plainY)
                        XCTAssertLessThanOrEqual(err, 1e-5, "\(rows)×\(columns) batch \(batch) \(path) \(level) \(threads) threads: rel L2 \(err)")
                    }
                }
            }
        }
    }
}
