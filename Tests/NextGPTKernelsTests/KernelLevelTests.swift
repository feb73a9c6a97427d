import CNextGPTKernels
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

/// The kernel level of an execution context (`KernelLevel`): read from `NEXTGPT_KERNEL_LEVEL`,
/// never above the machine's; the AVX-512 VNNI bodies of the repacked Q8_0 / Q4_0 kernels against
/// their scalar twins and the AVX2 bodies; products through `Matmul` equal across levels.
final class KernelLevelTests: XCTestCase {
    static let types: [GGMLType] = [.q8_0, .q4_0]

    func testEnvironmentLowersTheLevel() {
        XCTAssertEqual(ExecutionContext(threads: 1, environment: [:]).kernelLevel, KernelLevel.machine)
        XCTAssertEqual(ExecutionContext(threads: 1, environment: ["NEXTGPT_KERNEL_LEVEL": "scalar"]).kernelLevel, .scalar)
        // The baseline SIMD level (avx2 here, neon on aarch64), or scalar on a CPU without it.
        XCTAssertEqual(ExecutionContext(threads: 1, environment: ["NEXTGPT_KERNEL_LEVEL": "AVX2"]).kernelLevel,
                       KernelLevel.available(upTo: .avx2))
        XCTAssertNotEqual(KernelLevel.available(upTo: .avx2), .avx512VNNI)
        // Never raised past the machine; a name that is no level is ignored.
        XCTAssertEqual(ExecutionContext(threads: 1, environment: ["NEXTGPT_KERNEL_LEVEL": "avx512"]).kernelLevel, KernelLevel.machine)
        XCTAssertEqual(ExecutionContext(threads: 1, environment: ["NEXTGPT_KERNEL_LEVEL": "sse9"]).kernelLevel, KernelLevel.machine)
        var context = ExecutionContext(threads: 1, environment: ["NEXTGPT_KERNEL_LEVEL": "scalar"])
        context.kernelLevel = .avx512VNNI
        XCTAssertEqual(context.kernelLevel, KernelLevel.machine)
        XCTAssertEqual(KernelLevel(name: "avx512-vnni"), .avx512VNNI)
        XCTAssertEqual(KernelLevel.avx512VNNI.description, "avx512-vnni")
        XCTAssertNil(KernelLevel(name: ""))
    }

    func requireVNNI() throws {
        guard KernelLevel.machine == .avx512VNNI else { throw XCTSkip("skipped: no AVX-512 (VNNI) on this CPU") }
    }

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

    /// VNNI bodies against the scalar twins on the same packed bytes and split activations (rows
    /// not a multiple of 8 or 16, odd block counts, batches 1–9, ldy past the rows, activation
    /// bytes reaching ±127). Block sums are exact int32 on both sides; the scalar twin rounds the
    /// scale product and the sum separately where the bodies fuse them (float rounding: ≤ 1e-6).
    /// One activation (decode) takes the same float operations as the AVX2 body: equal bits.
    func testVNNIPackedKernelsMatchScalarTwinsAndAVX2() throws {
        try requireVNNI()
        for type in Self.types {
            for columns in [32, 96, 416, 4096] {
                for rows in [1, 3, 8, 13, 16, 17, 37, 64, 100] {
                    for nb in [1, 2, 3, 5, 9] {
                        let ldy = rows + 2
                        let w = randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows * 1000 + columns + nb))
                        var rng = Xorshift64(seed: UInt64(columns * 3 + nb))
                        let x = rng.triangulars(nb * columns, scale: 2).enumerated().map { $0.offset % 29 == 0 ? $0.element * 40 : $0.element }
                        w.withUnsafeBytes { wb in
                            let m = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!).repacked(context: .default)
                            let format = Matmul.activationFormat(m)
                            var xa = [UInt8](repeating: 0, count: nb * format.bytes)
                            xa.withUnsafeMutableBufferPointer { q in
                                x.withUnsafeBufferPointer { xp in
                                    for b in 0..<nb { format.quantize!(xp.baseAddress! + b * columns, q.baseAddress! + b * format.bytes, columns) }
                                }
                            }
                            var vnni = [Float](repeating: .nan, count: nb * ldy), scalar = vnni, avx2 = vnni
                            Matmul.kernel(m, level: .avx512VNNI)(m.data, m.groupBytes, rows, columns, xa, format.bytes, nb, &vnni, ldy)
                            Matmul.kernel(m, level: .scalar)(m.data, m.groupBytes, rows, columns, xa, format.bytes, nb, &scalar, ldy)
                            Matmul.kernel(m, level: .avx2)(m.data, m.groupBytes, rows, columns, xa, format.bytes, nb, &avx2, ldy)
                            var a: [Float] = [], b: [Float] = []
                            for bi in 0..<nb {
                                for r in 0..<rows { a.append(vnni[bi * ldy + r]); b.append(scalar[bi * ldy + r]) }
                                for r in rows..<ldy { XCTAssertTrue(vnni[bi * ldy + r].isNaN, "\(type) wrote past its rows") }
                            }
                            let err = relativeL2(a, b)
                            XCTAssertLessThanOrEqual(err, 1e-6, "\(type)x8 VNNI rows \(rows) columns \(columns) batch \(nb): rel L2 \(err)")
                            if nb == 1 {
                                XCTAssertEqual(vnni.map(\.bitPattern), avx2.map(\.bitPattern), "\(type)x8 VNNI vs AVX2 rows \(rows) columns \(columns)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// `Matmul.multiply` on contexts at every level the machine has (scalar, baseline SIMD, VNNI),
    /// repacked and row-major weights, decode and prefill batches, 2 threads: the same products
    /// to float rounding (1e-6 on the repacked layout, 1e-5 for row-major weights).
    func testProductsAgreeAcrossLevels() {
        let levels = [KernelLevel.scalar, .avx2, .neon, .avx512VNNI].filter { KernelLevel.available(upTo: $0) == $0 }
        for type in Self.types {
            for (rows, columns, batch) in [(37, 96, 1), (131, 416, 1), (64, 256, 5), (130, 160, 19)] {
                let w = randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows &* 17 + batch))
                var rng = Xorshift64(seed: UInt64(columns + batch))
                let x = rng.triangulars(batch * columns, scale: 2)
                w.withUnsafeBytes { wb in
                    let plain = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!)
                    let repacked = plain.repacked(context: .default)
                    var expected = [Float](repeating: .nan, count: batch * rows)
                    var scalar = ExecutionContext(threads: 1, environment: [:])
                    scalar.kernelLevel = .scalar
                    Matmul.multiply(repacked, x, batch: batch, into: &expected, context: scalar)
                    for level in levels {
                        var context = ExecutionContext(threads: 2, environment: [:])
                        context.kernelLevel = level
                        for matrix in [plain, repacked] {
                            var y = [Float](repeating: .nan, count: batch * rows)
                            Matmul.multiply(matrix, x, batch: batch, into: &y, context: context)
                            let err = relativeL2(y, expected)
                            // Row-major kernels sum a row in another order (PackedMatmulTests' bound).
                            let bound: Double = matrix.layout == .rowMajor ? 1e-5 : 1e-6
                            XCTAssertLessThanOrEqual(err, bound, "\(type) \(matrix.layout) \(rows)×\(columns) batch \(batch) at \(level): rel L2 \(err)")
                        }
                    }
                }
            }
        }
    }

    /// Rows split in chunks on demand give the same products as one range per thread: each row's
    /// sum does not depend on the split (equal bits on the repacked layout, whose kernels treat
    /// every group alike; row-major ones take 4-row or 1-row paths at range ends: ≤ 1e-6).
    func testChunkedRowSplitGivesTheSameProducts() {
        for type in Self.types {
            for (rows, columns) in [(37, 96), (1031, 256), (4096, 512)] {
                let w = randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows + columns))
                var rng = Xorshift64(seed: UInt64(rows))
                let x = rng.triangulars(columns, scale: 2)
                w.withUnsafeBytes { wb in
                    let plain = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!)
                    for matrix in [plain, plain.repacked(context: .default)] {
                        var contiguous = ExecutionContext(threads: 2, environment: [:]), chunks = contiguous
                        contiguous.rowSplit = .contiguous
                        chunks.rowSplit = .chunks
                        var a = [Float](repeating: .nan, count: rows), b = a
                        Matmul.multiply(matrix, x, batch: 1, into: &a, context: contiguous)
                        Matmul.multiply(matrix, x, batch: 1, into: &b, context: chunks)
                        if matrix.layout == .interleaved8 {
                            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(type) \(rows)×\(columns) repacked")
                        } else {
                            XCTAssertLessThanOrEqual(relativeL2(b, a), 1e-6, "\(type) \(rows)×\(columns) row-major")
                        }
                    }
                }
            }
        }
    }
}
