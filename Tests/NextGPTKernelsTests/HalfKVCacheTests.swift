import CNextGPTKernels
import Foundation
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

/// The f16 KV cache (`KVCacheType.f16`): rows rounded exactly as Swift's `Float16(x)` rounds
/// (IEEE round-to-nearest-even) by the F16C and scalar conversions, and the decode kernel's
/// bodies (`ngo_attend_row_f16*`) against the scalar twin and a Double-precision attention over
/// the same halves; the several-heads bodies (`ngo_attend_heads_f16*`) against the row bodies.
final class HalfKVCacheTests: XCTestCase {
    /// Ties, subnormals, the overflow edge, signed zeros, infinities and a spread of exponents.
    static func edgeValues() -> [Float] {
        var values: [Float] = [0, -0.0, 1, -1, 65504, 65519.996, 65520, -65520, 1e-8, 0x1p-24, 0x1p-25, 3 * 0x1p-25, 0x1p-14,
                               0x1.ffcp-15, 1 + 0x1p-11, 1 + 3 * 0x1p-11, -(1 + 0x1p-11), 2049, 2051, .infinity, -.infinity,
                               .nan, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
        var rng = Xorshift64(seed: 16)
        for e in -30...17 { values += rng.triangulars(7, scale: 1).map { $0 * Float(sign: .plus, exponent: e, significand: 1) } }
        return values
    }

    func assertSameHalves(_ ours: [UInt16], _ values: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.count, values.count, label, file: file, line: line)
        for (h, x) in zip(ours, values) {
            if x.isNaN {
                XCTAssertTrue(Float16(bitPattern: h).isNaN, "\(label): NaN → \(String(h, radix: 16))", file: file, line: line)
            } else {
                XCTAssertEqual(h, Float16(x).bitPattern, "\(label): \(x)", file: file, line: line)
            }
        }
    }

    func testRowConversionsRoundLikeFloat16() {
        let values = Self.edgeValues()
        var fast = [UInt16](repeating: 0, count: values.count), twin = fast
        ngk_fp32_to_fp16_row(values, &fast, values.count)
        ngk_fp32_to_fp16_row_ref(values, &twin, values.count)
        assertSameHalves(fast, values, "F16C row")
        assertSameHalves(twin, values, "scalar row")
    }

    func testCacheStoresRoundedRowsAndWidensThemBack() {
        let values = Self.edgeValues().filter { !$0.isNaN }
        let width = values.count / 2  // two positions, one head
        let (keys, vals) = (Array(values[..<(2 * width)]), Array(values[..<(2 * width)].reversed()))
        let cache = KVCache(kvHeads: 1, headDim: width, capacity: 1, type: .f16)  // the second append grows it
        for p in 0..<2 {
            cache.append(keys: Tensor(shape: [1, 1, width], values: Array(keys[(p * width)..<((p + 1) * width)])),
                         values: Tensor(shape: [1, 1, width], values: Array(vals[(p * width)..<((p + 1) * width)])))
        }
        XCTAssertEqual(cache.count, 2)
        XCTAssertEqual(cache.storedBytes, 2 * 2 * width * 2)
        assertSameHalves(Array(UnsafeBufferPointer(start: cache.keyHalves, count: 2 * width)), keys, "cache keys")
        assertSameHalves(Array(UnsafeBufferPointer(start: cache.valueHalves, count: 2 * width)), vals, "cache values")
        cache.withFloatRows(context: ExecutionContext(threads: 2)) { k, v in
            for i in 0..<(2 * width) {
                XCTAssertEqual(k[i].bitPattern, Float(Float16(keys[i])).bitPattern, "widened key \(keys[i])")
                XCTAssertEqual(v[i].bitPattern, Float(Float16(vals[i])).bitPattern, "widened value \(vals[i])")
            }
        }
    }

    /// The bodies this CPU can run (the scalar twin always).
    static let bodiesOfThisMachine = Attention.HalfRowBody.allCases.filter { body in
        switch body {
        case .avx512: return KernelLevel.machine == .avx512VNNI
        case .avx2: return KernelLevel.available(upTo: .avx2) == .avx2
        case .reference: return true
        }
    }

    func requireAVX512() throws {
        guard KernelLevel.machine == .avx512VNNI else { throw XCTSkip("skipped: no AVX-512") }
    }

    func requireAVX2() throws {
        guard KernelLevel.available(upTo: .avx2) == .avx2 else { throw XCTSkip("skipped: no AVX2") }
    }

    func testAVX512BodyMatchesTwinAndDoubleReference() throws {
        try requireAVX512()
        checkBody(.avx512)
    }

    func testAVX2BodyMatchesTwinAndDoubleReference() throws {
        try requireAVX2()
        checkBody(.avx2)
    }

    /// LLaMA's head size over a long GQA-strided cache, widths that are not multiples of 16 or 8
    /// (the bodies' tails), one key, and a value width above one register pass (160 > 128).
    func checkBody(_ body: Attention.HalfRowBody, file: StaticString = #filePath, line: UInt = #line) {
        var rng = Xorshift64(seed: 99)
        for (n, d, dv, kvHeads) in [(1, 128, 128, 1), (577, 128, 128, 4), (33, 40, 40, 2), (9, 20, 12, 3), (300, 64, 80, 1),
                                    (17, 24, 160, 2)] {
            let ld = kvHeads * max(d, dv)
            let q = rng.triangulars(d, scale: 2)
            let k = rng.triangulars(n * ld, scale: 2).map { Float16($0).bitPattern }
            let v = rng.triangulars(n * ld, scale: 1).map { Float16($0).bitPattern }
            let alpha = 1 / Float(d).squareRoot()
            var scores = [Float](repeating: .nan, count: n), out = [Float](repeating: .nan, count: dv), twin = out
            let head = kvHeads > 1 ? 1 : 0, offset = head * max(d, dv)
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    body(q, keys: kp.baseAddress! + offset, ldk: ld, values: vp.baseAddress! + offset, ldv: ld, count: n, headDim: d,
                         valueDim: dv, alpha: alpha, scores: &scores, out: &out)
                    Attention.HalfRowBody.reference(q, keys: kp.baseAddress! + offset, ldk: ld, values: vp.baseAddress! + offset,
                                                    ldv: ld, count: n, headDim: d, valueDim: dv, alpha: alpha, scores: &scores,
                                                    out: &twin)
                }
            }
            let key = { (j: Int, i: Int) in Double(Float16(bitPattern: k[j * ld + offset + i])) }
            let value = { (j: Int, i: Int) in Double(Float16(bitPattern: v[j * ld + offset + i])) }
            var logits = (0..<n).map { j in (0..<d).reduce(0.0) { $0 + Double(q[$1]) * key(j, $1) } * Double(alpha) }
            let top = logits.max()!
            logits = logits.map { Foundation.exp($0 - top) }
            let sum = logits.reduce(0, +)
            for i in 0..<dv {
                let expect = (0..<n).reduce(0.0) { $0 + logits[$1] / sum * value($1, i) }
                XCTAssertEqual(Double(out[i]), expect, accuracy: 2e-6 + 2e-5 * abs(expect),
                               "\(body) n \(n) d \(d) dv \(dv) lane \(i)", file: file, line: line)
                XCTAssertEqual(Double(twin[i]), expect, accuracy: 2e-6 + 2e-5 * abs(expect),
                               "twin n \(n) d \(d) dv \(dv) lane \(i)", file: file, line: line)
                XCTAssertEqual(out[i], twin[i], accuracy: 2e-6 + 2e-5 * abs(twin[i]),
                               "\(body) vs twin, n \(n) d \(d) dv \(dv) lane \(i)", file: file, line: line)
            }
        }
    }

    /// The several-heads kernel (`ngo_attend_heads_f16*`, the cache read position by position)
    /// gives every head bit for bit what the row kernel of the same level gives it: runs that start
    /// inside a kv-head group, GQA and plain heads, widths with tails, a value width above 128.
    func testHeadsBodiesMatchRowBodiesBitForBit() {
        var rng = Xorshift64(seed: 41)
        let bodies = Self.bodiesOfThisMachine
        // (positions, d, dv, kv heads, group, first head, heads in the run)
        for (n, d, dv, kvHeads, group, first, run) in [(577, 128, 128, 4, 8, 5, 19), (513, 128, 128, 32, 1, 16, 16), (33, 40, 40, 2, 2, 1, 3),
                                                       (9, 20, 12, 3, 1, 0, 3), (17, 24, 160, 2, 3, 2, 4), (1, 64, 64, 2, 1, 1, 1)] {
            let ldk = kvHeads * d, ldv = kvHeads * dv, heads = kvHeads * group
            XCTAssertLessThanOrEqual(first + run, heads)
            let q = rng.triangulars(run * d, scale: 2)
            let k = rng.triangulars(n * ldk, scale: 2).map { Float16($0).bitPattern }
            let v = rng.triangulars(n * ldv, scale: 1).map { Float16($0).bitPattern }
            let alpha = 1 / Float(d).squareRoot()
            for body in bodies {
                var scores = [Float](repeating: .nan, count: n * run), together = [Float](repeating: .nan, count: run * dv)
                var alone = together
                k.withUnsafeBufferPointer { kp in
                    v.withUnsafeBufferPointer { vp in
                        q.withUnsafeBufferPointer { qp in
                            body.heads(qp.baseAddress!, heads: run, first: first, group: group, keys: kp.baseAddress!, ldk: ldk,
                                       values: vp.baseAddress!, ldv: ldv, count: n, headDim: d, valueDim: dv, alpha: alpha,
                                       scores: &scores, out: &together)
                            alone.withUnsafeMutableBufferPointer { out in
                                for h in 0..<run {
                                    let kv = (first + h) / group
                                    body(qp.baseAddress! + h * d, keys: kp.baseAddress! + kv * d, ldk: ldk, values: vp.baseAddress! + kv * dv,
                                         ldv: ldv, count: n, headDim: d, valueDim: dv, alpha: alpha, scores: &scores,
                                         out: out.baseAddress! + h * dv)
                                }
                            }
                        }
                    }
                }
                XCTAssertFalse(alone.contains { $0.isNaN }, "\(body) row kernel n \(n)")
                XCTAssertEqual(together.map(\.bitPattern), alone.map(\.bitPattern),
                               "\(body): n \(n) d \(d) dv \(dv) kv \(kvHeads) group \(group) heads \(first)..<\(first + run)")
            }
        }
    }

    /// The decode path of `scaledDotProductAttention(query:cache:)` on an f16 cache gives what the
    /// f32 cache gives on the same (already rounded) keys and values, at every level the machine has.
    /// 70 positions: heads split over the threads; 600: positions split into parts (flash-decoding).
    func testCachedRowsOverHalvesMatchF32CacheOfSameValues() {
        var rng = Xorshift64(seed: 5)
        for t in [70, 600] {
        XCTAssertEqual(t - 2 >= Attention.partsFromPositions, t == 600)
        let (heads, kvHeads, d) = (8, 2, 64)
        let k = rng.triangulars(t * kvHeads * d, scale: 2).map { Float(Float16($0)) }
        let v = rng.triangulars(t * kvHeads * d, scale: 1).map { Float(Float16($0)) }
        let q = Tensor(shape: [3, heads, d], values: rng.triangulars(3 * heads * d, scale: 2))
        for level in KernelLevel.allCases where KernelLevel.available(upTo: level) == level {
            var context = ExecutionContext(threads: 2)
            context.kernelLevel = level
            let caches = [KVCache(kvHeads: kvHeads, headDim: d, capacity: t, type: .f32),
                          KVCache(kvHeads: kvHeads, headDim: d, capacity: t, type: .f16)]
            let outputs = caches.map { cache in
                cache.append(keys: Tensor(shape: [t, kvHeads, d], values: k), values: Tensor(shape: [t, kvHeads, d], values: v))
                return Attention.scaledDotProductAttention(query: q, cache: cache, context: context)
            }
            XCTAssertLessThanOrEqual(relativeL2(outputs[1].values, outputs[0].values), 1e-6, "\(t) positions, level \(level)")
        }
        }
    }

    /// One part of a row's positions for all heads (`ngo_attend_part_f16*`), merged over parts
    /// (`ngo_attend_merge_parts`), gives each head what the row kernel gives it; every body agrees
    /// with the scalar twin on the maxima, sums and unnormalised outputs.
    func testPartsMergeToTheRowKernelAndMatchTheTwin() {
        var rng = Xorshift64(seed: 77)
        let bodies = Self.bodiesOfThisMachine
        // (positions, parts, d, kv heads, group)
        for (n, parts, d, kvHeads, group) in [(577, 8, 128, 4, 2), (300, 3, 64, 2, 1), (65, 5, 40, 1, 3), (19, 2, 20, 3, 1)] {
            let ld = kvHeads * d, heads = kvHeads * group
            let q = rng.triangulars(heads * d, scale: 2)
            let k = rng.triangulars(n * ld, scale: 2).map { Float16($0).bitPattern }
            let v = rng.triangulars(n * ld, scale: 1).map { Float16($0).bitPattern }
            let alpha = 1 / Float(d).squareRoot()
            var twin: (m: [Float], l: [Float], o: [Float])?
            for body in [Attention.HalfRowBody.reference] + bodies.filter({ $0 != .reference }) {
                var m = [Float](repeating: .nan, count: parts * heads), l = m, o = [Float](repeating: .nan, count: parts * heads * d)
                var merged = [Float](repeating: .nan, count: heads * d), rows = merged
                var scores = [Float](repeating: .nan, count: heads * n)
                k.withUnsafeBufferPointer { kp in
                    v.withUnsafeBufferPointer { vp in
                        m.withUnsafeMutableBufferPointer { mp in
                            l.withUnsafeMutableBufferPointer { lp in
                                o.withUnsafeMutableBufferPointer { op in
                                    for p in 0..<parts {
                                        let j0 = n * p / parts, j1 = n * (p + 1) / parts
                                        body.part(q, heads: heads, group: group, keys: kp.baseAddress! + j0 * ld, ldk: ld,
                                                  values: vp.baseAddress! + j0 * ld, ldv: ld, count: j1 - j0, headDim: d,
                                                  valueDim: d, alpha: alpha, scores: &scores, m: mp.baseAddress! + p * heads,
                                                  l: lp.baseAddress! + p * heads, o: op.baseAddress! + p * heads * d)
                                    }
                                }
                            }
                        }
                        ngo_attend_merge_parts(parts, heads, d, m, l, o, &merged)
                        q.withUnsafeBufferPointer { qp in
                            rows.withUnsafeMutableBufferPointer { out in
                                for h in 0..<heads {
                                    body(qp.baseAddress! + h * d, keys: kp.baseAddress! + h / group * d, ldk: ld,
                                         values: vp.baseAddress! + h / group * d, ldv: ld, count: n, headDim: d, valueDim: d,
                                         alpha: alpha, scores: &scores, out: out.baseAddress! + h * d)
                                }
                            }
                        }
                    }
                }
                XCTAssertFalse(rows.contains { $0.isNaN } || merged.contains { $0.isNaN }, "\(body) n \(n)")
                XCTAssertLessThanOrEqual(relativeL2(merged, rows), 1e-6, "\(body): \(parts) parts of \(n) against the row kernel")
                if let twin {
                    XCTAssertLessThanOrEqual(relativeL2(m, twin.m), 1e-6, "\(body) maxima, n \(n)")
                    XCTAssertLessThanOrEqual(relativeL2(l, twin.l), 1e-5, "\(body) sums, n \(n)")
                    XCTAssertLessThanOrEqual(relativeL2(o, twin.o), 1e-5, "\(body) partial outputs, n \(n)")
                } else {
                    twin = (m, l, o)
                }
            }
        }
    }
}
