import NextGPTKernels
import NextGPTTestSupport
import XCTest

/// The batched kernel for many short sequences against the per-sequence tiled kernel (itself
/// checked against PyTorch by the op bundle).
final class AttentionBatchedTests: XCTestCase {
    func testMatchesOneCallPerSequence() {
        var generator = LinearCongruential64(state: 7)
        for (b, l, s, heads, d, dv) in [(37, 8, 8, 5, 64, 64), (3, 1, 1, 2, 4, 4), (20, 5, 77, 3, 40, 24), (17, 24, 3, 1, 9, 9)] {
            let q = generator.tensor([b, l, heads, d], divisor: 500), k = generator.tensor([b, s, heads, d], divisor: 500),
                v = generator.tensor([b, s, heads, dv], divisor: 500)
            let batched = Attention.batchedScaledDotProductAttention(query: q, key: k, value: v, context: .default)
            XCTAssertEqual(batched.shape, [b, l, heads, dv])
            let (qs, ks, vs) = (Shape.chunk(q, b), Shape.chunk(k, b), Shape.chunk(v, b))
            let each = Shape.cat((0..<b).map { i in
                Attention.scaledDotProductAttention(query: qs[i].reshaped([l, heads, d]), key: ks[i].reshaped([s, heads, d]),
                                                    value: vs[i].reshaped([s, heads, dv]), context: .default).reshaped([1, l, heads, dv])
            }, dim: 0)
            XCTAssertLessThan(relativeL2(batched, each), 1e-6, "B \(b) L \(l) S \(s) heads \(heads) d \(d)/\(dv)")
            let scaled = Attention.batchedScaledDotProductAttention(query: q, key: k, value: v, scale: 0.5, context: .default)
            let scaledEach = Attention.scaledDotProductAttention(query: qs[0].reshaped([l, heads, d]), key: ks[0].reshaped([s, heads, d]),
                                                                 value: vs[0].reshaped([s, heads, dv]), scale: 0.5, context: .default)
            XCTAssertLessThan(relativeL2(Shape.chunk(scaled, b)[0].reshaped([l, heads, dv]), scaledEach), 1e-6)
        }
    }
}
