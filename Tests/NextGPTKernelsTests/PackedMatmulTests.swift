import CNextGPTKernels
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

/// Weights repacked into groups of 8 interleaved rows (`WeightMatrix.repacked()`): layout round
/// trip, SIMD kernels against their scalar twins, and products against the row-major kernels.
final class PackedMatmulTests: XCTestCase {
    static let types: [GGMLType] = [.q8_0, .q4_0]

    /// Random quant bytes with moderate f16 scales, row-major container layout.
    func randomBlocks(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var rng = Xorshift64(seed: seed)
        let blockBytes = type.blockBytes
        var bytes = (0..<(rows * columns / 32 * blockBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for blk in 0..<(bytes.count / blockBytes) {
            let h = ngk_fp32_to_fp16(0.002 + rng.triangular(0.01))
            bytes[blk * blockBytes] = UInt8(h & 0xff)
            bytes[blk * blockBytes + 1] = UInt8(h >> 8)
        }
        return bytes
    }

    func testRepackedRowsReadBackUnchanged() {
        for type in Self.types {
            for rows in [1, 7, 8, 9, 37] {
                for columns in [32, 96] {
                    let w = randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows * 100 + columns))
                    w.withUnsafeBytes { wb in
                        let packed = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!).repacked(context: .default)
                        XCTAssertEqual(packed.layout, .interleaved8)
                        XCTAssertEqual(packed.byteCount, (rows + 7) / 8 * 8 * packed.rowBytes)
                        var back = [UInt8](repeating: 0, count: w.count)
                        back.withUnsafeMutableBytes { packed.copyRows(0, count: rows, into: $0.baseAddress!) }
                        XCTAssertEqual(back, w, "\(type) \(rows)×\(columns)")
                        if rows > 3 {
                            var middle = [UInt8](repeating: 0, count: 2 * packed.rowBytes)
                            middle.withUnsafeMutableBytes { packed.copyRows(2, count: 2, into: $0.baseAddress!) }
                            XCTAssertEqual(middle, Array(w[(2 * packed.rowBytes)..<(4 * packed.rowBytes)]))
                        }
                    }
                }
            }
        }
    }

    func testOtherTypesAreNotRepacked() {
        // (Q4_K is repacked since issue 15: PackedQ4KTests; f16 has no interleaved layout.)
        let w = [UInt8](repeating: 0, count: 3 * 256 * 2)
        w.withUnsafeBytes { wb in
            let m = WeightMatrix(type: .f16, rows: 3, columns: 256, data: wb.baseAddress!)
            XCTAssertFalse(m.isRepackable)
            XCTAssertEqual(m.repacked(context: .default).layout, .rowMajor)
        }
    }

    /// The split quantizer's SIMD body against its scalar twin, byte for byte: blocks of every
    /// magnitude the f16 scale meets (zero, subnormal, normal, overflowing to inf) and ties.
    func testSplitQuantizerMatchesItsScalarTwin() {
        var rng = Xorshift64(seed: 17)
        let blocks = 64, n = 32 * blocks
        var x = rng.triangulars(n, scale: 1)
        let magnitudes: [Float] = [0, 1e-9, 3e-6, 5e-4, 0.25, 3, 1e4, 8.3e6, 9e6, 1e30]
        for k in 0..<blocks {
            let m = magnitudes[k % magnitudes.count]
            for j in 0..<32 { x[32 * k + j] *= m }
        }
        for j in 0..<32 { x[32 * 7 + j] = Float(j - 16) * 0.5 }  // quants land on .5 ties
        var simd = [UInt8](repeating: 0xAA, count: blocks * 40), scalar = [UInt8](repeating: 0x55, count: blocks * 40)
        ngk_quantize_act_q8_0_split(x, &simd, n)
        ngk_quantize_act_q8_0_split_ref(x, &scalar, n)
        XCTAssertTrue(simd == scalar, "first differing byte at \(zip(simd, scalar).enumerated().first { $1.0 != $1.1 }?.offset ?? -1)")
    }

    func testSplitActivationsHoldTheQ8_0Values() {
        var rng = Xorshift64(seed: 5)
        let n = 32 * 13
        let x = rng.triangulars(n, scale: 3)
        var q8 = [UInt8](repeating: 0, count: n / 32 * 34), split = [UInt8](repeating: 0, count: n / 32 * 40)
        ngk_quantize_act_q8_0(x, &q8, n)
        ngk_quantize_act_q8_0_split(x, &split, n)
        for k in 0..<(n / 32) {
            XCTAssertEqual(Array(split[(32 * k)..<(32 * k + 32)]), Array(q8[(34 * k + 2)..<(34 * k + 34)]))
            let d = split.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: n + 4 * k, as: Float.self) }
            XCTAssertEqual(d, ngk_fp16_to_fp32(UInt16(q8[34 * k]) | UInt16(q8[34 * k + 1]) << 8))
            let sum = split.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: n / 32 * 36 + 4 * k, as: Int32.self) }
            XCTAssertEqual(Int(sum), q8[(34 * k + 2)..<(34 * k + 34)].reduce(0) { $0 + Int(Int8(bitPattern: $1)) })
        }
    }

    /// SIMD kernels against the scalar twins on the same packed bytes and split activations:
    /// rows not a multiple of 8, several activations, odd block counts, ldy past the rows.
    func testPackedKernelsMatchScalarTwins() {
        for type in Self.types {
            for columns in [32, 96, 416] {
                for rows in [1, 3, 8, 13, 37] {
                    for nb in [3, 9] {
                    let ldy = rows + 2
                    let w = randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows * 1000 + columns))
                    var rng = Xorshift64(seed: UInt64(columns))
                    let x = rng.triangulars(nb * columns, scale: 2)
                    w.withUnsafeBytes { wb in
                        let m = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!).repacked(context: .default)
                        let format = Matmul.activationFormat(m)
                        var xa = [UInt8](repeating: 0, count: nb * format.bytes)
                        xa.withUnsafeMutableBufferPointer { q in
                            for b in 0..<nb { format.quantize!(x.withUnsafeBufferPointer { $0.baseAddress! + b * columns }, q.baseAddress! + b * format.bytes, columns) }
                        }
                        var fast = [Float](repeating: .nan, count: nb * ldy), slow = fast
                        Matmul.kernel(m)(m.data, m.groupBytes, rows, columns, xa, format.bytes, nb, &fast, ldy)
                        Matmul.kernel(m, reference: true)(m.data, m.groupBytes, rows, columns, xa, format.bytes, nb, &slow, ldy)
                        var a: [Float] = [], b: [Float] = []
                        for bi in 0..<nb {
                            for r in 0..<rows { a.append(fast[bi * ldy + r]); b.append(slow[bi * ldy + r]) }
                            XCTAssertTrue(fast[bi * ldy + rows].isNaN, "\(type) wrote past its rows")
                        }
                        let err = relativeL2(a, b)
                        XCTAssertLessThanOrEqual(err, 1e-5, "\(type)x8 rows \(rows) columns \(columns) batch \(nb): rel L2 \(err)")
                    }
                    }
                }
            }
        }
    }

    /// Repacked products against the row-major direct kernels (same quantized activations, so
    /// float rounding only), through Matmul on every path, across threads.
    func check(_ type: GGMLType, rows: Int, columns: Int, batch: Int, path: Matmul.Path) {
        let w = randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows &* 31 + columns + batch))
        var rng = Xorshift64(seed: UInt64(rows + batch))
        let x = rng.triangulars(batch * columns, scale: 2)
        var plainY = [Float](repeating: .nan, count: batch * rows), packedY = plainY
        w.withUnsafeBytes { wb in
            let plain = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!)
            var context = ExecutionContext.default
            context.matmulPath = path
            Matmul.multiply(plain, x, batch: batch, into: &plainY, context: context)
            Matmul.multiply(plain.repacked(context: context), x, batch: batch, into: &packedY, context: context)
        }
        let err = relativeL2(packedY, plainY)
        XCTAssertLessThanOrEqual(err, 1e-5, "\(type) \(rows)×\(columns) batch \(batch) \(path): rel L2 \(err)")
    }

    func testRepackedProductsMatchRowMajorProducts() {
        for type in Self.types {
            check(type, rows: 37, columns: 96, batch: 1, path: .automatic)
            check(type, rows: 37, columns: 96, batch: 5, path: .direct)
            check(type, rows: 45, columns: 160, batch: 3, path: .blas)
            check(type, rows: 1031, columns: 1024, batch: 2, path: .automatic)
            check(type, rows: 4096, columns: 4096, batch: 1, path: .automatic)
            check(type, rows: 2053, columns: 1024, batch: 5, path: .blas)  // two BLAS panels
        }
    }

    /// At the AVX2 level repacked Q8_0 takes dequantize + sgemm from 1024 positions on CPUs that
    /// split 256-bit ops (Zen 1) and never elsewhere; Q4_0 there, and Q8_0 at other levels, from
    /// 4096: `.automatic` gives the `.blas` path's values exactly where it should take it, and the
    /// direct kernels' below.
    func testAutomaticTakesSgemmFrom1024PositionsForQ8_0AtTheAVX2LevelOnlyWhere256BitOpsAreSplit() throws {
        try XCTSkipUnless(KernelLevel.available(upTo: .avx2) == .avx2, "skipped: no AVX2")
        let (rows, columns) = (24, 64)
        var avx2 = ExecutionContext.default
        avx2.kernelLevel = .avx2
        for type in PackedMatmulTests.types {
            let w = randomBlocks(type, rows: rows, columns: columns, seed: 41)
            var rng = Xorshift64(seed: 42)
            let x = rng.triangulars(4096 * columns, scale: 2)
            w.withUnsafeBytes { wb in
                let packed = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!).repacked(context: avx2)
                for splits in [true, false] {
                    avx2.splits256BitOps = splits
                    for batch in [1023, 1024, 4096] {
                        func product(_ path: Matmul.Path) -> [Float] {
                            var context = avx2
                            context.matmulPath = path
                            var y = [Float](repeating: .nan, count: batch * rows)
                            Matmul.multiply(packed, x, batch: batch, into: &y, context: context)
                            return y
                        }
                        let automatic = product(.automatic), blas = product(.blas), direct = product(.direct)
                        XCTAssertNotEqual(blas, direct, "\(type) batch \(batch): the two paths should round differently")
                        let sgemmFrom = type == .q8_0 ? (splits ? 1024 : Int.max) : 4096
                        let expected = batch >= sgemmFrom ? blas : direct
                        XCTAssertTrue(automatic == expected,
                                      "\(type) batch \(batch), splits 256-bit ops \(splits): \(expected == blas ? "sgemm" : "direct kernels") expected")
                    }
                }
            }
        }
        XCTAssertEqual(Matmul.packedBLASThreshold(for: .q8_0, level: .avx512VNNI, splits256BitOps: true), 4096)
        XCTAssertEqual(Matmul.packedBLASThreshold(for: .q8_0, level: .avx2, splits256BitOps: false), .max)
    }
}
