import CNextGPTKernels
import XCTest

import NextGPTTestSupport

/// `ngo_attend_row` (the decode attention kernel) against its scalar twin and a Double-precision
/// softmax-attention, on LLaMA's head size, a GQA-strided cache and odd sizes.
final class AttentionRowKernelTests: XCTestCase {
    func testRowKernelMatchesTwinAndDoubleReference() {
        var rng = Xorshift64(seed: 77)
        for (n, d, dv, kvHeads) in [(1, 128, 128, 1), (577, 128, 128, 4), (33, 40, 40, 2), (9, 20, 12, 3), (300, 64, 80, 1)] {
            let ld = kvHeads * max(d, dv)
            let q = rng.triangulars(d, scale: 2), k = rng.triangulars(n * ld, scale: 2), v = rng.triangulars(n * ld, scale: 1)
            let alpha = 1 / Float(d).squareRoot()
            var scores = [Float](repeating: .nan, count: n), out = [Float](repeating: .nan, count: dv), twin = out
            // Head 1 of the strided cache (head 0 when there is one).
            let head = kvHeads > 1 ? 1 : 0, offset = head * max(d, dv)
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    ngo_attend_row(q, kp.baseAddress! + offset, ld, vp.baseAddress! + offset, ld, n, d, dv, alpha, &scores, &out)
                    ngo_attend_row_ref(q, kp.baseAddress! + offset, ld, vp.baseAddress! + offset, ld, n, d, dv, alpha, &scores, &twin)
                }
            }
            var logits = (0..<n).map { j in (0..<d).reduce(0.0) { $0 + Double(q[$1]) * Double(k[j * ld + offset + $1]) } * Double(alpha) }
            let top = logits.max()!
            logits = logits.map { Foundation.exp($0 - top) }
            let sum = logits.reduce(0, +)
            for i in 0..<dv {
                let expect = (0..<n).reduce(0.0) { $0 + logits[$1] / sum * Double(v[$1 * ld + offset + i]) }
                XCTAssertEqual(Double(out[i]), expect, accuracy: 2e-6 + 2e-5 * abs(expect), "n \(n) d \(d) dv \(dv) lane \(i)")
                XCTAssertEqual(out[i], twin[i], accuracy: 2e-6 + 2e-5 * abs(twin[i]), "twin, n \(n) d \(d) dv \(dv) lane \(i)")
            }
        }
    }
}
