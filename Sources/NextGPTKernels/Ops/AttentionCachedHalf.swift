import CNextGPTKernels

extension Attention {
    /// A body of the f16-cache decode kernel (`ngo_attend_row_f16*`, attention_rows_f16.c).
    package enum HalfRowBody: Sendable, CaseIterable {
        case avx512
        case avx2
        case reference

        /// The body a context's kernel level runs (NEON and scalar levels take the scalar twin).
        package init(_ level: KernelLevel) {
            switch level {
            case .avx512VNNI: self = .avx512
            case .avx2: self = .avx2
            case .scalar, .neon: self = .reference
            }
        }

        package func callAsFunction(_ q: UnsafePointer<Float>, keys k: UnsafePointer<UInt16>, ldk: Int,
                                    values v: UnsafePointer<UInt16>, ldv: Int, count n: Int, headDim d: Int, valueDim dv: Int,
                                    alpha: Float, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
            switch self {
            case .avx512: ngo_attend_row_f16_avx512(q, k, ldk, v, ldv, n, d, dv, alpha, scores, out)
            case .avx2: ngo_attend_row_f16(q, k, ldk, v, ldv, n, d, dv, alpha, scores, out)
            case .reference: ngo_attend_row_f16_ref(q, k, ldk, v, ldv, n, d, dv, alpha, scores, out)
            }
        }

        /// Positions `0..<count` of `keys`/`values` (a part of a row's cache) for all `heads` heads:
        /// per head the scores' max `m`, the sum `l` of their exponentials and the unnormalised `o`.
        package func part(_ q: UnsafePointer<Float>, heads: Int, group: Int, keys k: UnsafePointer<UInt16>, ldk: Int,
                          values v: UnsafePointer<UInt16>, ldv: Int, count n: Int, headDim d: Int, valueDim dv: Int, alpha: Float,
                          scores: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>,
                          o: UnsafeMutablePointer<Float>) {
            switch self {
            case .avx512: ngo_attend_part_f16_avx512(q, heads, group, k, ldk, v, ldv, n, d, dv, alpha, scores, m, l, o)
            case .avx2: ngo_attend_part_f16(q, heads, group, k, ldk, v, ldv, n, d, dv, alpha, scores, m, l, o)
            case .reference: ngo_attend_part_f16_ref(q, heads, group, k, ldk, v, ldv, n, d, dv, alpha, scores, m, l, o)
            }
        }

        /// `heads` consecutive query heads of one row, the first being head `first` (its kv head
        /// `first / group`); `keys`/`values` point at kv head 0 and `scores` holds heads × count.
        package func heads(_ q: UnsafePointer<Float>, heads: Int, first: Int, group: Int, keys k: UnsafePointer<UInt16>, ldk: Int,
                           values v: UnsafePointer<UInt16>, ldv: Int, count n: Int, headDim d: Int, valueDim dv: Int,
                           alpha: Float, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
            switch self {
            case .avx512: ngo_attend_heads_f16_avx512(q, heads, first, group, k, ldk, v, ldv, n, d, dv, alpha, scores, out)
            case .avx2: ngo_attend_heads_f16(q, heads, first, group, k, ldk, v, ldv, n, d, dv, alpha, scores, out)
            case .reference: ngo_attend_heads_f16_ref(q, heads, first, group, k, ldk, v, ldv, n, d, dv, alpha, scores, out)
            }
        }
    }

    /// `attendCachedRows` over an f16 cache: the same (query row, head) items, each reading half
    /// the bytes of the f32 cache. A thread's consecutive heads of a row go to the kernel together,
    /// which reads the cache position by position; from `partsFromPositions` visible positions
    /// on (and 2+ threads) the positions are split instead (`attendCachedParts`).
    static func attendCachedHalfRows(query: Tensor, cache: KVCache, scale: Float?, context: ExecutionContext) -> Tensor {
        let tq = query.shape[0], heads = query.shape[1], d = query.shape[2], tk = cache.count
        precondition(heads % cache.kvHeads == 0, "attention: \(heads) query heads over \(cache.kvHeads) key/value heads")
        let group = heads / cache.kvHeads, ld = cache.kvHeads * d
        let alpha = scale ?? 1 / Float(d).squareRoot()
        let body = HalfRowBody(context.kernelLevel)
        let keys = SendableReadPointer(cache.keyHalves), values = SendableReadPointer(cache.valueHalves)
        if context.threads > 1 && tk - tq + 1 >= partsFromPositions {
            return attendCachedParts(query: query, count: tk, context: context) { q, j0, n, scores, m, l, o in
                body.part(q, heads: heads, group: group, keys: keys.pointer + j0 * ld, ldk: ld, values: values.pointer + j0 * ld,
                          ldv: ld, count: n, headDim: d, valueDim: d, alpha: alpha, scores: scores, m: m, l: l, o: o)
            }
        }
        return Tensor(shape: [tq, heads, d]) { out in
            let dst = SendablePointer(out.baseAddress!)
            query.readPointer { q in
                let src = SendableReadPointer(q)
                OpParallel.forEach(tq * heads, costPerItem: tk * d * 2, context: context) { range in
                    let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(tk, 1) * min(range.count, heads))
                    defer { scores.deallocate() }
                    var item = range.lowerBound
                    while item < range.upperBound {
                        let i = item / heads, h = item % heads, run = min(range.upperBound - item, heads - h)
                        // Row i of the newest tq sees the cache up to its own position.
                        let visible = tk - tq + i + 1
                        body.heads(src.pointer + item * d, heads: run, first: h, group: group, keys: keys.pointer, ldk: ld,
                                   values: values.pointer, ldv: ld, count: visible, headDim: d, valueDim: d, alpha: alpha,
                                   scores: scores, out: dst.base + item * d)
                        item += run
                    }
                }
            }
        }
    }
}
