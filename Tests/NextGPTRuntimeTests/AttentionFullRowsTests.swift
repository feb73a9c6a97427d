import XCTest
@testable import NextGPTRuntime

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
        let minimum = Attention.fullRowsMinimum
        Attention.fullRowsMinimum = 100  // small sizes keep the debug-build test fast
        defer { Attention.fullRowsMinimum = minimum }
        for (l, s, heads, kvHeads, d) in [(130, 103, 2, 2, 128), (100, 150, 4, 2, 160)] {
            let q = random([l, heads, d]), k = random([s, kvHeads, d]), v = random([s, kvHeads, d])
            XCTAssertTrue(l >= Attention.fullRowsMinimum && s >= Attention.fullRowsMinimum && d >= Attention.fullRowsMinimumHeadDim)
            let whole = Attention.scaledDotProductAttention(query: q, key: k, value: v)
            let tiled = Attention.scaledDotProductAttention(query: q, key: k, value: v, blocks: .init(queries: 32, keys: 128))
            var diff = 0.0, ref = 0.0
            for (a, b) in zip(whole.values, tiled.values) { diff += Double(a - b) * Double(a - b); ref += Double(b) * Double(b) }
            XCTAssertLessThan((diff / ref).squareRoot(), 1e-6, "L \(l) S \(s) heads \(heads)/\(kvHeads) d \(d)")
        }
    }
}
