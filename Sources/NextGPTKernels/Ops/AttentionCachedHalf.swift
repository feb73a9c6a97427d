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
    }

    /// `attendCachedRows` over an f16 cache: the same (query row, head) items, each reading half
    /// the bytes of the f32 cache.
    static func attendCachedHalfRows(query: Tensor, cache: KVCache, scale: Float?, context: ExecutionContext) -> Tensor {
        let tq = query.shape[0], heads = query.shape[1], d = query.shape[2], tk = cache.count
        precondition(heads % cache.kvHeads == 0, "attention: \(heads) query heads over \(cache.kvHeads) key/value heads")
        let group = heads / cache.kvHeads, ld = cache.kvHeads * d
        let alpha = scale ?? 1 / Float(d).squareRoot()
        let body = HalfRowBody(context.kernelLevel)
        let keys = SendableReadPointer(cache.keyHalves), values = SendableReadPointer(cache.valueHalves)
        return Tensor(shape: [tq, heads, d]) { out in
            let dst = SendablePointer(out.baseAddress!)
            query.readPointer { q in
                let src = SendableReadPointer(q)
                OpParallel.forEach(tq * heads, costPerItem: tk * d * 2, context: context) { range in
                    let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(tk, 1))
                    defer { scores.deallocate() }
                    for item in range {
                        let i = item / heads, h = item % heads, kvh = h / group
                        // Row i of the newest tq sees the cache up to its own position.
                        let visible = tk - tq + i + 1
                        body(src.pointer + (i * heads + h) * d, keys: keys.pointer + kvh * d, ldk: ld, values: values.pointer + kvh * d,
                             ldv: ld, count: visible, headDim: d, valueDim: d, alpha: alpha, scores: scores,
                             out: dst.base + (i * heads + h) * d)
                    }
                }
            }
        }
    }
}
