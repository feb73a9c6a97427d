import CNextGPTKernels
import Foundation
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

/// Decode over a long cache split by positions (`Attention.attendCachedParts`, flash-decoding)
/// gives what one thread's row kernel gives: through `scaledDotProductAttention(query:cache:)`
/// for f32 and f16 caches (1 thread takes the row/heads path, 2 threads the parts), and the f32
/// part body (`ngo_attend_part`) against its scalar twin. The f16 bodies: `HalfKVCacheTests`.
final class CachedPartsTests: XCTestCase {
    func testPartsAtTwoThreadsMatchRowsAtOne() {
        var rng = Xorshift64(seed: 12)
        let (t, heads, kvHeads, d) = (700, 8, 4, 64)
        let k = rng.triangulars(t * kvHeads * d, scale: 2).map { Float(Float16($0)) }
        let v = rng.triangulars(t * kvHeads * d, scale: 1).map { Float(Float16($0)) }
        for rows in [1, 3] {
            let q = Tensor(shape: [rows, heads, d], values: rng.triangulars(rows * heads * d, scale: 2))
            for type in KVCacheType.allCases {
                for level in KernelLevel.allCases where KernelLevel.available(upTo: level) == level {
                    let outputs = [1, 2].map { threads in
                        var context = ExecutionContext(threads: threads)
                        context.kernelLevel = level
                        let cache = KVCache(kvHeads: kvHeads, headDim: d, capacity: t, type: type)
                        cache.append(keys: Tensor(shape: [t, kvHeads, d], values: k), values: Tensor(shape: [t, kvHeads, d], values: v))
                        return Attention.scaledDotProductAttention(query: q, cache: cache, context: context).values
                    }
                    XCTAssertTrue(outputs[1].allSatisfy(\.isFinite))
                    XCTAssertLessThanOrEqual(relativeL2(outputs[1], outputs[0]), 1e-6, "\(type) cache, \(rows) rows, level \(level)")
                }
            }
        }
    }

    func testF32PartBodyMatchesTwinAndMergesToTheRowKernel() {
        var rng = Xorshift64(seed: 13)
        for (n, parts, d, kvHeads, group) in [(577, 8, 128, 2, 2), (70, 3, 20, 3, 1)] {
            let ld = kvHeads * d, heads = kvHeads * group
            let q = rng.triangulars(heads * d, scale: 2), k = rng.triangulars(n * ld, scale: 2), v = rng.triangulars(n * ld, scale: 1)
            let alpha = 1 / Float(d).squareRoot()
            var results: [[Float]] = []
            for body in [ngo_attend_part, ngo_attend_part_ref] {
                var m = [Float](repeating: .nan, count: parts * heads), l = m, o = [Float](repeating: .nan, count: parts * heads * d)
                var merged = [Float](repeating: .nan, count: heads * d), scores = [Float](repeating: .nan, count: heads * n)
                m.withUnsafeMutableBufferPointer { mp in
                    l.withUnsafeMutableBufferPointer { lp in
                        o.withUnsafeMutableBufferPointer { op in
                            for p in 0..<parts {
                                let j0 = n * p / parts, j1 = n * (p + 1) / parts
                                k.withUnsafeBufferPointer { kp in
                                    v.withUnsafeBufferPointer { vp in
                                        body(q, heads, group, kp.baseAddress! + j0 * ld, ld, vp.baseAddress! + j0 * ld, ld, j1 - j0, d, d,
                                             alpha, &scores, mp.baseAddress! + p * heads, lp.baseAddress! + p * heads,
                                             op.baseAddress! + p * heads * d)
                                    }
                                }
                            }
                        }
                    }
                }
                ngo_attend_merge_parts(parts, heads, d, m, l, o, &merged)
                results.append(merged)
            }
            var rows = [Float](repeating: .nan, count: heads * d), scores = [Float](repeating: .nan, count: n)
            for h in 0..<heads {
                rows.withUnsafeMutableBufferPointer { out in
                    ngo_attend_row_ref(Array(q[(h * d)..<((h + 1) * d)]), Array(k[(h / group * d)...]), ld, Array(v[(h / group * d)...]), ld,
                                       n, d, d, alpha, &scores, out.baseAddress! + h * d)
                }
            }
            XCTAssertFalse(rows.contains { $0.isNaN })
            XCTAssertLessThanOrEqual(relativeL2(results[0], results[1]), 1e-6, "body against twin, n \(n)")
            XCTAssertLessThanOrEqual(relativeL2(results[1], rows), 1e-6, "twin's parts against the row kernel, n \(n)")
        }
    }
}
