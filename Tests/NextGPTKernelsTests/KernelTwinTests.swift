import CNextGPTKernels
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

final class KernelTwinTests: XCTestCase {
    func testActivationQ8_0TwinsAgreeBitForBit() {
        var rng = Xorshift64(seed: 1)
        var x = rng.triangulars(32 * 41, scale: 3)
        for j in 0..<32 { x[32 + j] = 0 }                    // an all-zero block
        for j in 0..<32 { x[64 + j] = Float(j - 16) * 0.5 }  // ties after scaling
        for j in 0..<32 { x[96 + j] = Float(j % 3) * 127 }   // exact multiples
        var a = [UInt8](repeating: 0, count: 41 * 34), b = a
        ngk_quantize_act_q8_0(x, &a, x.count)
        ngk_quantize_act_q8_0_ref(x, &b, x.count)
        XCTAssertEqual(a, b)
        // Dequantized values are within half a step of the inputs.
        for blk in 0..<41 {
            let d = ngk_fp16_to_fp32(UInt16(a[34 * blk]) | UInt16(a[34 * blk + 1]) << 8)
            for j in 0..<32 {
                let q = Float(Int8(bitPattern: a[34 * blk + 2 + j]))
                XCTAssertEqual(q * d, x[32 * blk + j], accuracy: d * 0.5 + abs(x[32 * blk + j]) * 2e-3 + 1e-6)
            }
        }
    }

    func testActivationQ8_KTwinsAgreeBitForBit() {
        var rng = Xorshift64(seed: 2)
        var x = rng.triangulars(256 * 7, scale: 5)
        for j in 0..<256 { x[256 + j] = 0 }
        x[600] = -9; x[700] = 9                              // equal magnitudes, first one wins
        for j in 0..<256 { x[1024 + j] = Float(j - 128) }
        var a = [UInt8](repeating: 0, count: 7 * 292), b = a
        ngk_quantize_act_q8_k(x, &a, x.count)
        ngk_quantize_act_q8_k_ref(x, &b, x.count)
        XCTAssertEqual(a, b)
        // bsums are the sums of each 16 quants.
        for blk in 0..<7 {
            for g in 0..<16 {
                var s = 0
                for k in 0..<16 { s += Int(Int8(bitPattern: a[292 * blk + 4 + 16 * g + k])) }
                let stored = Int(Int16(bitPattern: UInt16(a[292 * blk + 260 + 2 * g]) | UInt16(a[292 * blk + 261 + 2 * g]) << 8))
                XCTAssertEqual(s, stored)
            }
        }
    }

    func testDequantizeQ4KTwinAgreesBitForBit() {
        var rng = Xorshift64(seed: 3)
        let x = rng.triangulars(256 * 5, scale: 2)
        let q = TensorEncoding.encode(x, as: .q4_K)
        var a = [Float](repeating: 0, count: x.count), b = a
        ngk_dequantize_q4_k(q, &a, x.count)
        ngk_dequantize_q4_k_ref(q, &b, x.count)
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
    }

    func testSumProbe() {
        var rng = Xorshift64(seed: 4)
        let x = rng.triangulars(1003)
        let s = ngk_sum_f32(x, x.count)
        XCTAssertEqual(Double(s), x.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-3)
    }

    /// Every SIMD matrix-vector kernel against its scalar twin on the same activation bytes:
    /// rows not a multiple of the row group, several activation vectors, odd column counts
    /// (whole blocks) and tails for the plain types.
    func testMatrixVectorKernelsMatchScalarTwins() {
        let types: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K]
        for type in types {
            let columnChoices: [Int] = type == .q4_K ? [256, 768] : type.isQuantized ? [32, 416] : [1, 7, 13, 416, 419]
            for columns in columnChoices {
                for rows in [1, 2, 3, 5, 37] {
                    var rng = Xorshift64(seed: UInt64(rows * 1000 + columns))
                    let nb = 3
                    let wf = rng.triangulars(rows * columns, scale: 1)
                    let w = TensorEncoding.encode(wf, as: type)
                    let x = rng.triangulars(nb * columns, scale: 2)
                    let format = Matmul.activationFormat(type, columns: columns)
                    var xa = [UInt8](repeating: 0, count: nb * format.bytes)
                    if let quantize = format.quantize {
                        xa.withUnsafeMutableBufferPointer { q in
                            for b in 0..<nb { quantize(x.withUnsafeBufferPointer { $0.baseAddress! + b * columns }, q.baseAddress! + b * format.bytes, columns) }
                        }
                    } else {
                        xa = x.withUnsafeBytes { [UInt8]($0) }
                    }
                    let rowBytes = type.byteCount(elements: columns)!
                    let ldy = rows + 2
                    var fast = [Float](repeating: .nan, count: nb * ldy), slow = fast
                    Matmul.kernel(type)(w, rowBytes, rows, columns, xa, format.bytes, nb, &fast, ldy)
                    Matmul.kernel(type, reference: true)(w, rowBytes, rows, columns, xa, format.bytes, nb, &slow, ldy)
                    var a: [Float] = [], b: [Float] = []
                    for bi in 0..<nb {
                        for r in 0..<rows { a.append(fast[bi * ldy + r]); b.append(slow[bi * ldy + r]) }
                        XCTAssertTrue(fast[bi * ldy + rows].isNaN, "\(type) wrote past its rows")
                    }
                    let err = relativeL2(a, b)
                    XCTAssertLessThanOrEqual(err, 1e-5, "\(type) rows \(rows) columns \(columns): rel L2 \(err)")
                }
            }
        }
    }
}
