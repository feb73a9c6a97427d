import CNextGPTKernels
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

/// The tiled integer GEMM (`ngk_gemm_q8_0x8` / `ngk_gemm_q4_0x8`, `Matmul.Path.integerGEMM`): its
/// SIMD body against its scalar twin on the same packed bytes and split activations, and products
/// through `Matmul` (row-major weights repacked panel by panel, repacked weights as they are)
/// against the packed matrix-vector path. Integer block sums are exact on both sides; the f32
/// accumulation differs only by the FMA's single rounding, so the bound is float rounding (1e-6).
final class IntegerGEMMTests: XCTestCase {
    static let types: [GGMLType] = [.q8_0, .q4_0]

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

    /// Tiles of 16 rows × 8 activations and every remainder: rows 1…37 (a lone last group, a
    /// partial one), batches past 8 and past the 64-activation panel, ldy past the rows.
    func testGEMMMatchesScalarTwin() {
        for type in Self.types {
            for columns in [32, 96, 416] {
                for rows in [1, 8, 9, 16, 17, 37] {
                    for nb in [1, 2, 3, 7, 8, 13, 70] {
                        let ldy = rows + 3
                        let w = randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows * 1000 + columns + nb))
                        var rng = Xorshift64(seed: UInt64(columns * 7 + nb))
                        // Some rows with large values so that activation bytes reach ±127.
                        let x = rng.triangulars(nb * columns, scale: 2).enumerated().map { $0.offset % 29 == 0 ? $0.element * 40 : $0.element }
                        w.withUnsafeBytes { wb in
                            let m = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!).repacked(context: .default)
                            let packed = type.traits.interleaved!
                            let bytes = columns / 32 * packed.activationBytesPerBlock
                            var xa = [UInt8](repeating: 0, count: nb * bytes)
                            xa.withUnsafeMutableBufferPointer { q in
                                x.withUnsafeBufferPointer { xp in
                                    for b in 0..<nb { packed.quantize(xp.baseAddress! + b * columns, q.baseAddress! + b * bytes, columns) }
                                }
                            }
                            var fast = [Float](repeating: .nan, count: nb * ldy), slow = fast
                            packed.gemm.fast(m.data, m.groupBytes, rows, columns, xa, bytes, nb, &fast, ldy)
                            packed.gemm.reference(m.data, m.groupBytes, rows, columns, xa, bytes, nb, &slow, ldy)
                            var a: [Float] = [], b: [Float] = []
                            for bi in 0..<nb {
                                for r in 0..<rows { a.append(fast[bi * ldy + r]); b.append(slow[bi * ldy + r]) }
                                for r in rows..<ldy { XCTAssertTrue(fast[bi * ldy + r].isNaN, "\(type) wrote past its rows") }
                            }
                            let err = relativeL2(a, b)
                            XCTAssertLessThanOrEqual(err, 1e-6, "\(type) gemm rows \(rows) columns \(columns) batch \(nb): rel L2 \(err)")
                        }
                    }
                }
            }
        }
    }

    /// `Matmul.multiply` on `.integerGEMM` (row-major: panels repacked per worker; repacked: as is)
    /// against the packed matrix-vector kernels (`.direct` on the repacked copy), 1 and 2 threads.
    func testIntegerGEMMPathMatchesPackedKernels() {
        for type in Self.types {
            for (rows, columns, batch) in [(37, 96, 5), (130, 160, 70), (1280, 1280, 257), (200, 5120, 19)] {
                let w = randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows &* 31 + columns + batch))
                var rng = Xorshift64(seed: UInt64(rows + batch))
                let x = rng.triangulars(batch * columns, scale: 2)
                w.withUnsafeBytes { wb in
                    let plain = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!)
                    let repacked = plain.repacked(context: .default)
                    var expected = [Float](repeating: .nan, count: batch * rows)
                    var direct = ExecutionContext(threads: 1)
                    direct.matmulPath = .direct
                    Matmul.multiply(repacked, x, batch: batch, into: &expected, context: direct)
                    for threads in [1, 2] {
                        var context = ExecutionContext(threads: threads)
                        context.matmulPath = .integerGEMM
                        for matrix in [plain, repacked] {
                            var y = [Float](repeating: .nan, count: batch * rows)
                            Matmul.multiply(matrix, x, batch: batch, into: &y, context: context)
                            let err = relativeL2(y, expected)
                            XCTAssertLessThanOrEqual(err, 1e-6, "\(type) \(matrix.layout) \(rows)×\(columns) batch \(batch) threads \(threads): rel L2 \(err)")
                        }
                    }
                }
            }
        }
    }

    /// The path is only taken where it applies: other types on `.integerGEMM` keep the automatic rule.
    func testOtherTypesIgnoreTheIntegerPath() {
        let rows = 5, columns = 64, batch = 3
        var rng = Xorshift64(seed: 9)
        let w = rng.triangulars(rows * columns), x = rng.triangulars(batch * columns)
        var a = [Float](repeating: .nan, count: batch * rows), b = a
        w.withUnsafeBytes { wb in
            let m = WeightMatrix(type: .f32, rows: rows, columns: columns, data: wb.baseAddress!)
            var context = ExecutionContext(threads: 1)
            context.matmulPath = .integerGEMM
            Matmul.multiply(m, x, batch: batch, into: &a, context: context)
            context.matmulPath = .automatic
            Matmul.multiply(m, x, batch: batch, into: &b, context: context)
        }
        XCTAssertEqual(a, b)
    }
}
