import CNextGPTKernels
import COpenBLAS
import Foundation

/// Scaled dot-product attention (`F.scaled_dot_product_attention`) in the runtime layout:
/// queries [Tq, heads, headDim], keys [Tk, kvHeads, headDim], values [Tk, kvHeads, valueDim],
/// output [Tq, heads, valueDim]. Grouped-query heads: query head h reads key/value head
/// `h / (heads / kvHeads)` (HF `repeat_kv`).
///
/// Head widths that are multiples of 8 up to 160 (SD's 40/80/160, ZeroScope's 64, ImageBind's
/// 80, LLaMA's 128) run the fused kernel (`AttentionFused.swift`: scores in registers, no score
/// scratch) at the AVX2 and AVX-512 levels unless `ExecutionContext.attentionKernel` asks for the
/// tiles. The tiles walk query tiles × key tiles with an online softmax (running max and sum per
/// query row), so scratch memory is O(tile²+tile·headDim) per thread, never O(Tq·Tk). Q·Kᵀ and P·V
/// of each tile read the heads in place (leading dimension heads·headDim) on the calling thread,
/// since the tiles themselves are already spread over the pool's threads.
public enum Attention {
    /// Which keys a causal query sees when Tq ≠ Tk (the two agree when Tq == Tk).
    public enum CausalAlignment: Sendable {
        /// PyTorch's `is_causal=True`: query i sees keys j ≤ i.
        case topLeft
        /// The last query is aligned with the last key, as with a KV cache: query i sees
        /// j ≤ i + Tk − Tq. Queries before the first key see nothing and give zeros.
        case bottomRight
    }

    /// The matrix products of the tiles (chosen by `ExecutionContext.attentionTileProducts`).
    public typealias TileProducts = AttentionTileProducts

    /// Tile sizes of the online-softmax kernel; zero picks a size from the head dim.
    /// Automatic: up to 64 queries (fewer for head dims above 32, at least 8) and up to 512 keys
    /// per tile, with each tile product at or below `budget(for:)` multiply-adds.
    public struct Blocks: Sendable {
        public var queries: Int
        public var keys: Int
        public init(queries: Int = 0, keys: Int = 0) { self.queries = queries; self.keys = keys }

        /// OpenBLAS 0.3.21 runs an sgemm of up to 2¹⁸ multiply-adds on the calling thread; above
        /// that it starts its own threads, nested inside ours (15× slower on 2 cores).
        static let openBLASBudget = 1 << 18
        /// The single-thread kernel is not faster with bigger tiles: on 4096-token SD 1.5
        /// attention (8 heads × 40, 2 cores) the automatic 48×136 tiles took 426 ms, 64×128
        /// 561 ms, 64×256 727 ms (OpenBLAS at 48×136: 707 ms), as the value strip leaves L1.
        static let singleThreadBudget = 1 << 18

        static func budget(for products: TileProducts) -> Int {
            products == .openBLAS ? openBLASBudget : singleThreadBudget
        }

        func queryTile(queries tq: Int, headDim d: Int, products: TileProducts) -> Int {
            let auto = max(8, min(64, Blocks.budget(for: products) / (128 * max(d, 1)) / 8 * 8))
            return max(1, min(queries > 0 ? queries : auto, tq))
        }

        func keyTile(queries bq: Int, headDim d: Int, products: TileProducts) -> Int {
            if keys > 0 { return keys }
            let fit = Blocks.budget(for: products) / max(bq * d, 1)
            return max(8, min(512, fit / 8 * 8))
        }
    }

    /// `F.scaled_dot_product_attention(q, k, v, attn_mask:, is_causal:, scale:)` on one sequence.
    /// - `mask`: additive float mask (`attn_mask` as a float tensor), [Tk], [Tq or 1, Tk] or
    ///   [heads or 1, Tq or 1, Tk], added to the scaled scores; −∞ removes a key.
    /// - `keyPadding`: Tk flags, true = the key is ignored (`key_padding_mask` of
    ///   `nn.MultiheadAttention`). A boolean `attn_mask` becomes `additiveMask(allowed:)`.
    /// - A query row whose keys are all masked gives zeros, as PyTorch ≥ 2.5 does on the CPU.
    /// - `isCausal` with `causalAlignment` (default `.bottomRight`, the KV-cache alignment; use
    ///   `.topLeft` for PyTorch's `is_causal` when Tq ≠ Tk).
    /// - `biasKey`/`biasValue` ([kvHeads, headDim] / [kvHeads, valueDim], or flat) are appended
    ///   after the keys as `nn.MultiheadAttention(add_bias_kv=True)` does after its in-projection;
    ///   masks cover the Tk given keys and never the appended row (PyTorch pads them with zeros).
    public static func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, isCausal: Bool = false,
                                                 causalAlignment: CausalAlignment = .bottomRight,
                                                 mask: Tensor? = nil, keyPadding: [Bool]? = nil,
                                                 scale: Float? = nil, biasKey: Tensor? = nil, biasValue: Tensor? = nil,
                                                 blocks: Blocks = Blocks(), context: ExecutionContext) -> Tensor {
        precondition(query.rank == 3 && key.rank == 3 && value.rank == 3 && key.shape[0] == value.shape[0]
                     && key.shape[1] == value.shape[1] && key.shape[2] == query.shape[2],
                     "attention: q \(query.shape), k \(key.shape), v \(value.shape) are not [T, heads, headDim]")
        let givenKeys = key.shape[0]
        if let keyPadding {
            precondition(keyPadding.count == givenKeys, "attention: key padding of \(keyPadding.count) flags for \(givenKeys) keys")
        }
        let maskLayout = mask.map { MaskLayout($0.shape, queries: query.shape[0], keys: givenKeys, heads: query.shape[1]) }
        var key = key, value = value
        if biasKey != nil || biasValue != nil {
            guard let biasKey, let biasValue else { preconditionFailure("attention: biasKey and biasValue go together") }
            key = Shape.cat([key, biasKey.reshaped([1, key.shape[1], key.shape[2]])], dim: 0)
            value = Shape.cat([value, biasValue.reshaped([1, value.shape[1], value.shape[2]])], dim: 0)
        }
        // Key padding becomes one more additive row (0 or −∞), folded into the mask tiles.
        let padding: [Float]? = keyPadding.map { flags in
            flags.map { $0 ? -Float.infinity : 0 } + [Float](repeating: 0, count: key.shape[0] - givenKeys)
        }
        let tk = key.shape[0]
        return key.readPointer { k in
            value.readPointer { v in
                withOptionalPointer(mask) { m in
                    withOptionalPointer(padding) { p in
                        attend(query: query, keys: k, values: v, keyCount: tk, kvHeads: key.shape[1], valueDim: value.shape[2],
                               causal: isCausal ? causalAlignment : nil,
                               mask: m.map { (base: $0, layout: maskLayout!) }, padding: p, scale: scale, blocks: blocks,
                               context: context)
                    }
                }
            }
        }
    }

    /// A boolean mask (nonzero = the key takes part, as a boolean `attn_mask`) as the additive
    /// mask the op takes: 0 where allowed, −∞ elsewhere.
    public static func additiveMask(allowed: Tensor) -> Tensor {
        Tensor(shape: allowed.shape, values: allowed.values.map { $0 != 0 ? 0 : -Float.infinity })
    }

    /// Causal attention of the newest `query.shape[0]` positions over everything in `cache`
    /// (append this step's keys/values to the cache first).
    public static func scaledDotProductAttention(query: Tensor, cache: KVCache, scale: Float? = nil,
                                                 blocks: Blocks = Blocks(), context: ExecutionContext) -> Tensor {
        precondition(query.rank == 3 && query.shape[2] == cache.headDim && query.shape[0] <= cache.count,
                     "attention: q \(query.shape) over a cache of \(cache.count) × \(cache.kvHeads) × \(cache.headDim)")
        if query.shape[0] <= cachedRowsMaximum && blocks.queries == 0 && blocks.keys == 0 {
            return attendCachedRows(query: query, cache: cache, scale: scale, context: context)
        }
        return cache.withFloatRows(context: context) { keys, values in
            attend(query: query, keys: keys, values: values, keyCount: cache.count, kvHeads: cache.kvHeads,
                   valueDim: cache.headDim, causal: .bottomRight, mask: nil, padding: nil, scale: scale, blocks: blocks,
                   context: context)
        }
    }

    /// Queries up to which a cached step takes the row kernel (decode, short speculative runs).
    package static let cachedRowsMaximum = 4

    /// Decode: each (query row, head) reads its keys and values straight from the cache rows
    /// (`ngo_attend_row`, `ngo_attend_row_f16*` for an f16 cache), so the cache streams once per
    /// token instead of being packed tile by tile; from `partsFromPositions` visible positions on
    /// the positions are split instead (`attendCachedParts`).
    static func attendCachedRows(query: Tensor, cache: KVCache, scale: Float?, context: ExecutionContext) -> Tensor {
        if cache.type == .f16 { return attendCachedHalfRows(query: query, cache: cache, scale: scale, context: context) }
        let tq = query.shape[0], heads = query.shape[1], d = query.shape[2], tk = cache.count
        precondition(heads % cache.kvHeads == 0, "attention: \(heads) query heads over \(cache.kvHeads) key/value heads")
        let group = heads / cache.kvHeads, ld = cache.kvHeads * d
        let alpha = scale ?? 1 / Float(d).squareRoot()
        let (k, v) = (SendableReadPointer(cache.keys), SendableReadPointer(cache.values))
        if context.threads > 1 && tk - tq + 1 >= partsFromPositions {
            let reference = context.kernelLevel == .scalar || context.kernelLevel == .neon
            return attendCachedParts(query: query, count: tk, context: context) { q, j0, n, scores, m, l, o in
                (reference ? ngo_attend_part_ref : ngo_attend_part)(q, heads, group, k.pointer + j0 * ld, ld, v.pointer + j0 * ld, ld,
                                                                      n, d, d, alpha, scores, m, l, o)
            }
        }
        return Tensor(shape: [tq, heads, d]) { out in
            let dst = SendablePointer(out.baseAddress!)
            query.readPointer { q in
                let src = SendableReadPointer(q)
                OpParallel.forEach(tq * heads, costPerItem: tk * d * 2, context: context) { range in
                    let scores = UnsafeMutablePointer<Float>.allocate(capacity: tk)
                    defer { scores.deallocate() }
                    for item in range {
                        let i = item / heads, h = item % heads, kvh = h / group
                        // Row i of the newest tq sees the cache up to its own position.
                        let visible = tk - tq + i + 1
                        ngo_attend_row(src.pointer + (i * heads + h) * d, k.pointer + kvh * d, ld, v.pointer + kvh * d, ld, visible,
                                       d, d, alpha, scores, dst.base + (i * heads + h) * d)
                    }
                }
            }
        }
    }

    /// Bytes of scratch the kernel allocates for these sizes (all threads together; the fused
    /// kernel adds a packed copy of the keys: `keys` (default: `queries`) × `kvHeads` × headDim).
    public static func scratchBytes(queries: Int, headDim: Int, valueDim: Int? = nil, keys: Int? = nil, kvHeads: Int = 1,
                                    blocks: Blocks = Blocks(), context: ExecutionContext) -> Int {
        let dv = valueDim ?? headDim
        if queries >= fusedMinimumQueries && blocks.queries == 0 && blocks.keys == 0
            && fusedBody(context, headDim: headDim, valueDim: dv) != nil {
            return (context.threads * ngk_attention_scratch_floats(fusedQueryTile, headDim, dv)
                    + kvHeads * ngk_attention_packed_keys_floats(keys ?? queries, headDim)) * 4
        }
        let products = context.attentionTileProducts
        let bq = blocks.queryTile(queries: queries, headDim: headDim, products: products)
        let bk = blocks.keyTile(queries: bq, headDim: headDim, products: products)
        return context.threads * (bq * bk + bk * headDim + bq * (valueDim ?? headDim) + 2 * bq) * 4
    }

    /// Where mask row (head h, query i) starts: the broadcast dimensions have stride 0.
    struct MaskLayout {
        let headStride: Int
        let rowStride: Int
        let columns: Int

        init(_ shape: [Int], queries tq: Int, keys tk: Int, heads: Int) {
            let r = shape.count
            precondition((1...3).contains(r) && shape[r - 1] == tk
                         && (r < 2 || shape[r - 2] == 1 || shape[r - 2] == tq) && (r < 3 || shape[0] == 1 || shape[0] == heads),
                         "attention: mask \(shape) does not broadcast to [\(heads), \(tq), \(tk)]")
            columns = tk
            rowStride = r >= 2 && shape[r - 2] == tq && tq > 1 ? tk : 0
            headStride = r == 3 && shape[0] == heads && heads > 1 ? shape[1] * tk : 0
        }
    }

    static func attend(query: Tensor, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, keyCount tk: Int,
                       kvHeads: Int, valueDim dv: Int, causal: CausalAlignment?,
                       mask: (base: UnsafePointer<Float>, layout: MaskLayout)?, padding: UnsafePointer<Float>?,
                       scale: Float?, blocks: Blocks, context: ExecutionContext) -> Tensor {
        let tq = query.shape[0], heads = query.shape[1], d = query.shape[2]
        precondition(heads % kvHeads == 0, "attention: \(heads) query heads over \(kvHeads) key/value heads")
        let group = heads / kvHeads
        let alpha = scale ?? 1 / Float(d).squareRoot()
        let fullRowsMinimum = context.attentionFullRowsMinimum
        if causal == nil && mask == nil && padding == nil && tq >= fullRowsMinimum && tk >= fullRowsMinimum
            && d >= fullRowsMinimumHeadDim && blocks.queries == 0 && blocks.keys == 0 {
            return attendFullRows(query: query, keys: k, values: v, keyCount: tk, kvHeads: kvHeads, valueDim: dv, alpha: alpha,
                                  context: context)
        }
        if tq >= fusedMinimumQueries && tk > 0 && blocks.queries == 0 && blocks.keys == 0 && !(mask != nil && padding != nil),
           let body = fusedBody(context, headDim: d, valueDim: dv) {
            return attendFused(query: query, keys: k, values: v, keyCount: tk, kvHeads: kvHeads, valueDim: dv, causal: causal,
                               mask: mask, padding: padding, scale: alpha, body: body, context: context)
        }
        let products = context.attentionTileProducts
        let bq = blocks.queryTile(queries: tq, headDim: d, products: products)
        let bk = blocks.keyTile(queries: bq, headDim: d, products: products)
        let qTiles = (tq + bq - 1) / bq
        // Absolute key position of query 0's diagonal: query i sees keys j ≤ i + offset.
        let offset = causal == .bottomRight ? tk - tq : 0
        let ldq = heads * d, ldk = kvHeads * d, ldv = kvHeads * dv
        let additive = mask != nil || padding != nil
        return Tensor(shape: [tq, heads, dv]) { out in
            let dst = SendablePointer(out.baseAddress!)
            query.readPointer { q in
                OpParallel.forEach(heads * qTiles, costPerItem: bq * tk * (d + dv) * 2, context: context) { range in
                    let s = UnsafeMutablePointer<Float>.allocate(capacity: bq * bk)
                    let packed = UnsafeMutablePointer<Float>.allocate(capacity: bk * d)
                    let acc = UnsafeMutablePointer<Float>.allocate(capacity: bq * dv)
                    let m = UnsafeMutablePointer<Float>.allocate(capacity: bq)
                    let l = UnsafeMutablePointer<Float>.allocate(capacity: bq)
                    defer { s.deallocate(); packed.deallocate(); acc.deallocate(); m.deallocate(); l.deallocate() }
                    for item in range {
                        let h = item / qTiles, i0 = (item % qTiles) * bq
                        let rows = min(bq, tq - i0)
                        let kvh = h / group
                        acc.initialize(repeating: 0, count: rows * dv)
                        m.initialize(repeating: -.infinity, count: rows)
                        l.initialize(repeating: 0, count: rows)
                        let keyEnd = causal != nil ? min(tk, offset + i0 + rows) : tk
                        var j0 = 0
                        while j0 < keyEnd {
                            let cols = min(bk, keyEnd - j0)
                            if additive {
                                fillMask(s, ld: bk, rows: rows, cols: cols, head: h, firstQuery: i0, firstKey: j0,
                                         mask: mask, padding: padding)
                            }
                            let qTile = q + (i0 * heads + h) * d, kTile = k + (j0 * kvHeads + kvh) * d
                            let beta: Float = additive ? 1 : 0
                            switch products {
                            case .singleThread:
                                ngs_sgemm_nt(rows, cols, d, alpha, qTile, ldq, kTile, ldk, beta, s, bk, packed)
                            case .openBLAS:
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(d), alpha,
                                            qTile, Int32(ldq), kTile, Int32(ldk), beta, s, Int32(bk))
                            }
                            for r in 0..<rows {
                                let row = s + r * bk
                                let valid = causal != nil ? min(cols, offset + i0 + r - j0 + 1) : cols
                                if valid <= 0 {
                                    row.update(repeating: 0, count: cols)
                                    continue
                                }
                                let mNew = max(m[r], ngo_max_row(row, valid))
                                if mNew == -.infinity {
                                    // every key so far is masked out: nothing to add, and exp(−∞ − (−∞)) would be NaN
                                    row.update(repeating: 0, count: cols)
                                    continue
                                }
                                let sum = ngo_exp_shift_row(row, valid, mNew)
                                if valid < cols { (row + valid).update(repeating: 0, count: cols - valid) }
                                let correction = m[r] == -.infinity ? 0 : Foundation.expf(m[r] - mNew)
                                if correction != 1 {
                                    let a = acc + r * dv
                                    for i in 0..<dv { a[i] *= correction }
                                }
                                l[r] = l[r] * correction + sum
                                m[r] = mNew
                            }
                            let vTile = v + (j0 * kvHeads + kvh) * dv
                            switch products {
                            case .singleThread:
                                ngs_sgemm_nn(rows, dv, cols, 1, s, bk, vTile, ldv, 1, acc, dv)
                            case .openBLAS:
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(dv), Int32(cols), 1,
                                            s, Int32(bk), vTile, Int32(ldv), 1, acc, Int32(dv))
                            }
                            j0 += cols
                        }
                        for r in 0..<rows {
                            let o = dst.base + ((i0 + r) * heads + h) * dv, a = acc + r * dv
                            let inv = l[r] > 0 ? 1 / l[r] : 0
                            for i in 0..<dv { o[i] = a[i] * inv }
                        }
                    }
                }
            }
        }
    }

    // Sequences from which unmasked attention takes whole score rows: `context.attentionFullRowsMinimum`.
    /// Small heads (SD's 40, 80) stay tiled: their score products are too thin for sgemm to win.
    package static let fullRowsMinimumHeadDim = 128
    static let fullRowsBudget = 1 << 22

    /// Unmasked attention over long sequences (SD's 4096-position self-attention, the VAE's
    /// single 512-wide head): per head, a block of queries gets its whole score rows from one
    /// multi-threaded sgemm, an exact softmax, and one more sgemm with the values. Big products
    /// run near sgemm speed where the tiled online-softmax kernel's small tiles do not
    /// (head size 512: 4× on the 2-core EPYC; head sizes 40 and 80 were slower than tiles).
    static func attendFullRows(query: Tensor, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, keyCount tk: Int,
                               kvHeads: Int, valueDim dv: Int, alpha: Float, context: ExecutionContext) -> Tensor {
        let tq = query.shape[0], heads = query.shape[1], d = query.shape[2]
        let group = heads / kvHeads
        let ldq = heads * d, ldk = kvHeads * d, ldv = kvHeads * dv, ldo = heads * dv
        let bq = max(16, min(tq, fullRowsBudget / tk))
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: bq * tk)
        defer { scores.deallocate() }
        let shared = SendablePointer(scores)
        return Tensor(shape: [tq, heads, dv]) { out in
            let o = out.baseAddress!
            query.readPointer { q in
                for h in 0..<heads {
                    let kvh = h / group
                    var i0 = 0
                    while i0 < tq {
                        let rows = min(bq, tq - i0)
                        Kernels.sgemm(transB: true, m: rows, n: tk, k: d, alpha: alpha, a: q + i0 * ldq + h * d, lda: ldq,
                                      b: k + kvh * d, ldb: ldk, c: scores, ldc: tk, context: context)
                        OpParallel.forEach(rows, costPerItem: tk * 4, context: context) { range in
                            for r in range {
                                let row = shared.base + r * tk
                                let sum = ngo_exp_shift_row(row, tk, ngo_max_row(row, tk))
                                let inv = 1 / sum
                                for j in 0..<tk { row[j] *= inv }
                            }
                        }
                        Kernels.sgemm(m: rows, n: dv, k: tk, a: scores, lda: tk, b: v + kvh * dv, ldb: ldv,
                                      c: o + i0 * ldo + h * dv, ldc: ldo, context: context)
                        i0 += rows
                    }
                }
            }
        }
    }

    /// Writes the additive mask of one tile into the score buffer, which the Q·Kᵀ product then
    /// accumulates into (beta 1): mask columns past the given keys (appended bias keys) are 0.
    @inline(__always)
    static func fillMask(_ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int, head: Int, firstQuery i0: Int,
                         firstKey j0: Int, mask: (base: UnsafePointer<Float>, layout: MaskLayout)?,
                         padding: UnsafePointer<Float>?) {
        let masked = mask.map { max(0, min(cols, $0.layout.columns - j0)) } ?? 0
        for r in 0..<rows {
            let row = s + r * ld
            if let mask {
                let src = mask.base + head * mask.layout.headStride + (i0 + r) * mask.layout.rowStride + j0
                row.update(from: src, count: masked)
                if masked < cols { (row + masked).update(repeating: 0, count: cols - masked) }
                if let padding { for j in 0..<cols { row[j] += padding[j0 + j] } }
            } else if let padding {
                row.update(from: padding + j0, count: cols)
            }
        }
    }

    private static func withOptionalPointer<R>(_ t: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let t else { return body(nil) }
        return t.readPointer { body($0) }
    }

    private static func withOptionalPointer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let a else { return body(nil) }
        return a.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// `nn.MultiheadAttention` forward for one sequence (batch dimension dropped), no masks:
    /// query [L, E], key/value [S, E]; `inProjWeight` [3E, E], `inProjBias` [3E], `outProjWeight`
    /// [E, E], `outProjBias` [E]; `biasK`/`biasV` [E] for `add_bias_kv=True` → [L, E].
    public static func multiheadAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int,
                                          inProjWeight: Tensor, inProjBias: Tensor?,
                                          outProjWeight: Tensor, outProjBias: Tensor?,
                                          biasK: Tensor? = nil, biasV: Tensor? = nil, context: ExecutionContext) -> Tensor {
        let e = query.shape[1], d = e / heads
        let w = Shape.chunk(inProjWeight, 3, dim: 0)
        let b = inProjBias.map { Shape.chunk($0, 3, dim: 0) }
        let q = Linear.linear(query, weight: w[0], bias: b?[0], context: context).reshaped([query.shape[0], heads, d])
        let k = Linear.linear(key, weight: w[1], bias: b?[1], context: context).reshaped([key.shape[0], heads, d])
        let v = Linear.linear(value, weight: w[2], bias: b?[2], context: context).reshaped([value.shape[0], heads, d])
        let o = scaledDotProductAttention(query: q, key: k, value: v, biasKey: biasK, biasValue: biasV, context: context)
        return Linear.linear(o.reshaped([query.shape[0], e]), weight: outProjWeight, bias: outProjBias, context: context)
    }
}
