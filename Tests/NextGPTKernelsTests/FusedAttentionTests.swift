import CNextGPTKernels
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

/// The fused attention kernel (`ngk_attention_rows*`): each SIMD body against the scalar twin on
/// the same packed keys, and `Attention.scaledDotProductAttention` / the batched op through the
/// fused kernel against the tiles (`attentionKernel = .tiles`, themselves checked against PyTorch
/// by the op bundles). The bodies use a polynomial exp2 (relative error < 2e-7) and another
/// summation order than the twin and the tiles: the bound is float rounding over thousands of
/// keys (relative L2 ≤ 1e-5); a wrong mask, tail or rescale is off by far more.
final class FusedAttentionTests: XCTestCase {
    func requireAVX512() throws {
        guard KernelLevel.machine == .avx512VNNI else { throw XCTSkip("skipped: no AVX-512") }
    }

    func requireAVX2() throws {
        guard KernelLevel.available(upTo: .avx2) == .avx2 else { throw XCTSkip("skipped: no AVX2") }
    }

    struct Case {
        var heads: Int, d: Int, dv: Int, queries: Int, keys: Int
        var causal = false
        var causalOffset = 0
        var masked = false
    }

    /// The shapes of the models (SD 1.5 self- and cross-attention, ZeroScope's spatial attention,
    /// ImageBind-huge), key tails of 1, 17 and 255, 96 and 97 keys (the AVX2 body's few-keys path
    /// and the blocked walk on either side of its limit), causal diagonals both ways, an additive mask
    /// with removed keys and a fully masked row, and every value width 8…160 of the generic path.
    static let cases: [Case] = {
        var cases = [Case(heads: 8, d: 40, dv: 40, queries: 4096, keys: 4096), Case(heads: 8, d: 40, dv: 40, queries: 4096, keys: 77),
                     Case(heads: 5, d: 64, dv: 64, queries: 2880, keys: 2880), Case(heads: 16, d: 80, dv: 80, queries: 257, keys: 257)]
        for keys in [1, 17, 96, 97, 255] {
            for d in [40, 64, 80] { cases.append(Case(heads: 2, d: d, dv: d, queries: 61, keys: keys)) }
        }
        cases.append(Case(heads: 2, d: 40, dv: 40, queries: 77, keys: 77, causal: true))
        cases.append(Case(heads: 2, d: 80, dv: 80, queries: 50, keys: 130, causal: true, causalOffset: 80))
        cases.append(Case(heads: 2, d: 64, dv: 64, queries: 70, keys: 30, causal: true, causalOffset: -40))
        cases.append(Case(heads: 2, d: 40, dv: 40, queries: 53, keys: 200, masked: true))
        cases.append(Case(heads: 2, d: 64, dv: 64, queries: 29, keys: 90, causal: true, masked: true))
        for dv in stride(from: 8, through: 160, by: 8) { cases.append(Case(heads: 1, d: 168 - dv, dv: dv, queries: 14, keys: 37)) }
        return cases
    }()

    /// One head of `c` in the kernel's layout, with its output rows filled with NaN.
    final class Problem {
        let c: Case
        let q: [Float], k: [Float], v: [Float], mask: [Float]
        var packed: [Float]

        init(_ c: Case, seed: UInt64) {
            self.c = c
            var generator = LinearCongruential64(seed: seed)
            // Scores of a few units: softmax rows neither flat nor one-hot.
            q = (0..<(c.queries * c.d)).map { _ in generator.thousandth(over: 300) }
            k = (0..<(c.keys * c.d)).map { _ in generator.thousandth(over: 300) }
            v = (0..<(c.keys * c.dv)).map { _ in generator.thousandth(over: 500) }
            // Every fifth key removed; row 3 loses every key; the rest a small additive bias.
            mask = (0..<(c.queries * c.keys)).map { i in
                let (row, key) = (i / c.keys, i % c.keys)
                return row == 3 || key % 5 == 2 ? -Float.infinity : generator.thousandth(over: 400)
            }
            packed = [Float](repeating: .nan, count: ngk_attention_packed_keys_floats(c.keys, c.d))
            k.withUnsafeBufferPointer { ngk_attention_pack_keys($0.baseAddress!, c.d, c.keys, c.d, &packed) }
        }

        /// Output rows [first, first + count) through `body`; rows outside stay NaN.
        func run(_ body: Attention.FusedBody, first: Int, count: Int) -> [Float] {
            var out = [Float](repeating: .nan, count: c.queries * c.dv)
            var scratch = [Float](repeating: .nan, count: ngk_attention_scratch_floats(count, c.d, c.dv))
            q.withUnsafeBufferPointer { qp in
                v.withUnsafeBufferPointer { vp in
                    mask.withUnsafeBufferPointer { mp in
                        packed.withUnsafeBufferPointer { kp in
                            out.withUnsafeMutableBufferPointer { op in
                                var head = ngk_attention_head(
                                    q: qp.baseAddress!, ldq: c.d, kt: kp.baseAddress!, v: vp.baseAddress!, ldv: c.dv,
                                    o: op.baseAddress!, ldo: c.dv, tk: c.keys, d: c.d, dv: c.dv,
                                    scale: 1 / Float(c.d).squareRoot(), mask: c.masked ? mp.baseAddress! : nil,
                                    mask_ld: c.keys, mask_cols: c.masked ? c.keys : 0, causal: c.causal ? 1 : 0,
                                    causal_offset: c.causalOffset)
                                scratch.withUnsafeMutableBufferPointer { body(&head, firstQuery: first, queries: count, scratch: $0.baseAddress!) }
                            }
                        }
                    }
                }
            }
            return out
        }
    }

    /// Query tiles of the work split (48 rows) and a partial last tile; the twin only on those
    /// rows, so the long shapes stay quick in a debug build.
    func checkAgainstTwin(_ body: Attention.FusedBody) {
        for (index, c) in Self.cases.enumerated() {
            let problem = Problem(c, seed: UInt64(index + 1))
            let tile = Attention.fusedQueryTile
            var ranges = [(0, min(tile, c.queries))]
            if c.queries > tile { ranges.append(((c.queries - 1) / tile * tile, c.queries - (c.queries - 1) / tile * tile)) }
            if c.queries > 3 * tile { ranges.append((tile + 5, 7)) }
            for (first, count) in ranges {
                let fast = problem.run(body, first: first, count: count), slow = problem.run(.reference, first: first, count: count)
                let rows = (first * c.dv)..<((first + count) * c.dv)
                XCTAssertTrue(fast[rows].allSatisfy { $0.isFinite }, "\(body) \(c): non-finite output")
                XCTAssertTrue(fast.indices.filter { !rows.contains($0) }.allSatisfy { fast[$0].isNaN }, "\(body) \(c): wrote outside rows")
                let err = relativeL2(Array(fast[rows]), Array(slow[rows]))
                XCTAssertLessThanOrEqual(err, 1e-5, "\(body) \(c) rows \(first)+\(count): rel L2 \(err)")
                if c.masked && first == 0 {
                    XCTAssertTrue(fast[(3 * c.dv)..<(4 * c.dv)].allSatisfy { $0 == 0 }, "\(body) \(c): a fully masked row is not 0")
                }
            }
        }
    }

    func testAVX512BodyMatchesScalarTwin() throws {
        try requireAVX512()
        checkAgainstTwin(.avx512)
    }

    func testAVX2BodyMatchesScalarTwin() throws {
        try requireAVX2()
        checkAgainstTwin(.avx2)
    }

    /// The twin itself against a direct softmax(q·kᵀ/√d + mask)·v in Double.
    func testScalarTwinMatchesDirectSoftmax() {
        for c in [Case(heads: 1, d: 40, dv: 24, queries: 9, keys: 150, masked: true),
                  Case(heads: 1, d: 16, dv: 16, queries: 20, keys: 20, causal: true, causalOffset: -3)] {
            let p = Problem(c, seed: 5)
            let twin = p.run(.reference, first: 0, count: c.queries)
            var expected = [Double](repeating: 0, count: c.queries * c.dv)
            for i in 0..<c.queries {
                var scores = (0..<c.keys).map { j -> Double in
                    if c.causal && j > i + c.causalOffset { return -.infinity }
                    let dot = (0..<c.d).reduce(0.0) { $0 + Double(p.q[i * c.d + $1]) * Double(p.k[j * c.d + $1]) }
                    return dot / Double(c.d).squareRoot() + (c.masked ? Double(p.mask[i * c.keys + j]) : 0)
                }
                let top = scores.max()!
                guard top > -.infinity else { continue }
                scores = scores.map { Foundation.exp($0 - top) }
                let sum = scores.reduce(0, +)
                for j in 0..<c.keys {
                    for col in 0..<c.dv { expected[i * c.dv + col] += scores[j] / sum * Double(p.v[j * c.dv + col]) }
                }
            }
            let err = relativeL2(twin, expected)
            XCTAssertLessThanOrEqual(err, 1e-6, "\(c): rel L2 \(err)")
        }
    }

    /// Contexts whose kernel level picks each body (the AVX-512 one where the machine has it).
    func fusedContexts() -> [(String, ExecutionContext)] {
        var result: [(String, ExecutionContext)] = []
        for level in [KernelLevel.avx512VNNI, .avx2] where KernelLevel.available(upTo: level) == level {
            var context = ExecutionContext(threads: 2)
            context.kernelLevel = level
            result.append(("\(level)", context))
        }
        return result
    }

    /// The first `n` entries of `t` along dim 0.
    func leading(_ t: Tensor, _ n: Int) -> Tensor {
        n == t.shape[0] ? t : Shape.split(t, sizes: [n, t.shape[0] - n], dim: 0)[0]
    }

    /// Through the op: SD, ZeroScope and ImageBind shapes, key tails, both causal alignments, a
    /// [heads, Tq, Tk] mask, key padding with appended bias keys, grouped-query heads.
    func testOpMatchesTiles() throws {
        try requireAVX2()
        var tiles = ExecutionContext(threads: 2)
        tiles.attentionKernel = .tiles
        var generator = LinearCongruential64(state: 15)
        // The long self-attention shapes with one head (heads only move the kernel's pointers; the twin
        // tests take all 8 and 5): the tiles at -O0 take minutes on 8.
        for (l, s, heads, kvHeads, d) in [(4096, 4096, 1, 1, 40), (4096, 77, 8, 8, 40), (2880, 2880, 1, 1, 64), (257, 257, 16, 16, 80),
                                          (61, 1, 2, 2, 40), (61, 17, 2, 2, 64), (61, 255, 2, 2, 80), (40, 90, 8, 2, 64),
                                          (64, 77, 8, 8, 160)] {
            let q = generator.tensor([l, heads, d], divisor: 300), k = generator.tensor([s, kvHeads, d], divisor: 300),
                v = generator.tensor([s, kvHeads, d], divisor: 500)
            let expected = Attention.scaledDotProductAttention(query: q, key: k, value: v, context: tiles)
            for (name, context) in fusedContexts() {
                let fused = Attention.scaledDotProductAttention(query: q, key: k, value: v, context: context)
                XCTAssertLessThanOrEqual(relativeL2(fused, expected), 1e-5, "\(name) L \(l) S \(s) heads \(heads)/\(kvHeads) d \(d)")
            }
        }
        let (l, s, heads, d) = (70, 100, 3, 40)
        let q = generator.tensor([l, heads, d], divisor: 300), k = generator.tensor([s, heads, d], divisor: 300),
            v = generator.tensor([s, heads, d], divisor: 500)
        let mask = Tensor(shape: [heads, l, s], values: (0..<(heads * l * s)).map { i in
            i % 7 == 3 || (i / s) % l == 5 ? -.infinity : generator.thousandth(over: 400)
        })
        let padding = (0..<s).map { $0 % 9 == 4 }
        let biasK = generator.tensor([heads, d], divisor: 300), biasV = generator.tensor([heads, d], divisor: 300)
        for (name, context) in fusedContexts() {
            for alignment in [Attention.CausalAlignment.topLeft, .bottomRight] {
                for (ql, kl) in [(l, s), (s, l)] {
                    let qq = leading(generator.tensor([100, heads, d], divisor: 300), ql)
                    let kk = leading(k, kl), vv = leading(v, kl)
                    let a = Attention.scaledDotProductAttention(query: qq, key: kk, value: vv, isCausal: true, causalAlignment: alignment, context: context)
                    let b = Attention.scaledDotProductAttention(query: qq, key: kk, value: vv, isCausal: true, causalAlignment: alignment, context: tiles)
                    XCTAssertLessThanOrEqual(relativeL2(a, b), 1e-5, "\(name) causal \(alignment) \(ql)×\(kl)")
                }
            }
            let masked = Attention.scaledDotProductAttention(query: q, key: k, value: v, mask: mask, context: context)
            XCTAssertLessThanOrEqual(relativeL2(masked, Attention.scaledDotProductAttention(query: q, key: k, value: v, mask: mask, context: tiles)),
                                     1e-5, "\(name) mask")
            XCTAssertTrue(masked.values[(5 * heads * d)..<(6 * heads * d)].allSatisfy { $0 == 0 }, "\(name): fully masked row")
            let padded = Attention.scaledDotProductAttention(query: q, key: k, value: v, keyPadding: padding, biasKey: biasK, biasValue: biasV,
                                                             context: context)
            let paddedTiles = Attention.scaledDotProductAttention(query: q, key: k, value: v, keyPadding: padding, biasKey: biasK,
                                                                  biasValue: biasV, context: tiles)
            XCTAssertLessThanOrEqual(relativeL2(padded, paddedTiles), 1e-5, "\(name) key padding + bias keys")
            let causalMasked = Attention.scaledDotProductAttention(query: q, key: k, value: v, isCausal: true, mask: mask, context: context)
            XCTAssertLessThanOrEqual(relativeL2(causalMasked, Attention.scaledDotProductAttention(query: q, key: k, value: v, isCausal: true,
                                                                                                  mask: mask, context: tiles)),
                                     1e-5, "\(name) causal + mask")
        }
    }

    /// The batched op (ZeroScope's temporal attention: every position over its frames) through the
    /// fused kernel against its whole-row path.
    func testBatchedMatchesWholeRows() throws {
        try requireAVX2()
        var tiles = ExecutionContext(threads: 2)
        tiles.attentionKernel = .tiles
        var generator = LinearCongruential64(state: 21)
        for (b, l, s, heads, d) in [(300, 16, 16, 5, 64), (40, 24, 24, 10, 64), (9, 50, 77, 2, 40)] {
            let q = generator.tensor([b, l, heads, d], divisor: 300), k = generator.tensor([b, s, heads, d], divisor: 300),
                v = generator.tensor([b, s, heads, d], divisor: 500)
            let expected = Attention.batchedScaledDotProductAttention(query: q, key: k, value: v, context: tiles)
            for (name, context) in fusedContexts() {
                let fused = Attention.batchedScaledDotProductAttention(query: q, key: k, value: v, context: context)
                XCTAssertLessThanOrEqual(relativeL2(fused, expected), 1e-5, "\(name) B \(b) L \(l) S \(s) heads \(heads) d \(d)")
            }
        }
    }
}
