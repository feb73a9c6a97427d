import NextGPTKernels
import XCTest

/// The whole-row path for long unmasked sequences against the tiled online-softmax kernel
/// (itself checked against PyTorch by the op bundle).
final class AttentionFullRowsTests: XCTestCase {
    func testMatchesTiledKernel() {
        var state: UInt64 = 99
        func random(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 700
            })
        }
        var context = ExecutionContext.default
        context.attentionFullRowsMinimum = 100  // small sizes keep the debug-build test fast
        for (l, s, heads, kvHeads, d) in [(130, 103, 2, 2, 128), (100, 150, 4, 2, 160)] {
            let q = random([l, heads, d]), k = random([s, kvHeads, d]), v = random([s, kvHeads, d])
            XCTAssertTrue(l >= context.attentionFullRowsMinimum && s >= context.attentionFullRowsMinimum && d >= Attention.fullRowsMinimumHeadDim)
            let whole = Attention.scaledDotProductAttention(query: q, key: k, value: v, context: context)
            let tiled = Attention.scaledDotProductAttention(query: q, key: k, value: v, blocks: .init(queries: 32, keys: 128),
                                                           context: context)
            var diff = 0.0, ref = 0.0
            for (a, b) in zip(whole.values, tiled.values) { diff += Double(a - b) * Double(a - b); ref += Double(b) * Double(b) }
            XCTAssertLessThan((diff / ref).squareRoot(), 1e-6, "L \(l) S \(s) heads \(heads)/\(kvHeads) d \(d)")
        }
    }
}
