import NextGPTKernels
import NextGPTTestSupport
import XCTest

/// The whole-row path for long unmasked sequences against the tiled online-softmax kernel
/// (itself checked against PyTorch by the op bundle).
final class AttentionFullRowsTests: XCTestCase {
    func testMatchesTiledKernel() {
        var generator = LinearCongruential64(state: 99)
        var context = ExecutionContext.default
        context.attentionFullRowsMinimum = 100  // small sizes keep the debug-build test fast
        for (l, s, heads, kvHeads, d) in [(130, 103, 2, 2, 128), (100, 150, 4, 2, 160)] {
            let q = generator.tensor([l, heads, d], divisor: 700), k = generator.tensor([s, kvHeads, d], divisor: 700),
                v = generator.tensor([s, kvHeads, d], divisor: 700)
            XCTAssertTrue(l >= context.attentionFullRowsMinimum && s >= context.attentionFullRowsMinimum && d >= Attention.fullRowsMinimumHeadDim)
            let whole = Attention.scaledDotProductAttention(query: q, key: k, value: v, context: context)
            let tiled = Attention.scaledDotProductAttention(query: q, key: k, value: v, blocks: .init(queries: 32, keys: 128),
                                                           context: context)
            XCTAssertLessThan(relativeL2(whole, tiled), 1e-6, "L \(l) S \(s) heads \(heads)/\(kvHeads) d \(d)")
        }
    }
}
