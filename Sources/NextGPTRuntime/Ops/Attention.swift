import CNextGPTKernels
import COpenBLAS
import Foundation

/// Scaled dot-product attention (`F.scaled_dot_product_attention`) in the runtime layout:
/// queries [Tq, heads, headDim], keys and values [Tk, kvHeads, headDim], output [Tq, heads, headDim].
/// Grouped-query heads: query head h reads key/value head `h / (heads / kvHeads)` (HF `repeat_kv`).
///
/// The kernel walks query tiles × key tiles with an online softmax (running max and sum per query
/// row), so scratch memory is O(tile²+tile·headDim) per thread, never O(Tq·Tk). Q·Kᵀ and P·V of
/// each tile are cblas_sgemm calls reading the heads in place (leading dimension heads·headDim).
public enum Attention {
    /// Tile sizes of the online-softmax kernel.
    /// Zero picks a size from the head dim so that each tile product stays at or below 2¹⁸
    /// multiply-adds: OpenBLAS runs such calls on the calling thread, and the tiles are already
    /// spread over threads here (nested OpenBLAS threading made 4096-token attention ~15× slower
    /// on 2 cores). Automatic: up to 64 queries (fewer for head dims above 32, at least 8) and
    /// up to 512 keys per tile.
    public struct Blocks: Sendable {
        public var queries: Int
        public var keys: Int
        public init(queries: Int = 0, keys: Int = 0) { self.queries = queries; self.keys = keys }

        static let budget = 1 << 18

        func queryTile(queries tq: Int, headDim d: Int) -> Int {
            let auto = max(8, min(64, Blocks.budget / (128 * max(d, 1)) / 8 * 8))
            return max(1, min(queries > 0 ? queries : auto, tq))
        }

        func keyTile(queries bq: Int, headDim d: Int) -> Int {
            if keys > 0 { return keys }
            let fit = Blocks.budget / max(bq * d, 1)
            return max(8, min(512, fit / 8 * 8))
        }
    }

    /// `F.scaled_dot_product_attention(q, k, v, is_causal:, scale:)` with optional extra key/value
    /// rows (`biasKey`/`biasValue` [kvHeads, headDim], or [kvHeads·headDim]) appended after the keys,
    /// as `nn.MultiheadAttention(add_bias_kv=True)` does after its in-projection.
    /// `isCausal` aligns the last query with the last key (queries are the newest Tq positions, as
    /// with a KV cache); PyTorch's `is_causal` aligns the first ones instead — the two agree when
    /// Tq == Tk, the only case the reference tests compare.
    public static func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, isCausal: Bool = false,
                                                 scale: Float? = nil, biasKey: Tensor? = nil, biasValue: Tensor? = nil,
                                                 blocks: Blocks = Blocks()) -> Tensor {
        precondition(query.rank == 3 && key.rank == 3 && key.shape == value.shape && key.shape[2] == query.shape[2],
                     "attention: q \(query.shape), k \(key.shape), v \(value.shape) are not [T, heads, headDim]")
        var key = key, value = value
        if biasKey != nil || biasValue != nil {
            guard let biasKey, let biasValue else { preconditionFailure("attention: biasKey and biasValue go together") }
            let row = [1, key.shape[1], key.shape[2]]
            key = Shape.cat([key, biasKey.reshaped(row)], dim: 0)
            value = Shape.cat([value, biasValue.reshaped(row)], dim: 0)
        }
        let tk = key.shape[0]
        return key.readPointer { k in
            value.readPointer { v in
                attend(query: query, keys: k, values: v, keyCount: tk, kvHeads: key.shape[1], isCausal: isCausal,
                       scale: scale, blocks: blocks)
            }
        }
    }

    /// Causal attention of the newest `query.shape[0]` positions over everything in `cache`
    /// (append this step's keys/values to the cache first).
    public static func scaledDotProductAttention(query: Tensor, cache: KVCache, scale: Float? = nil,
                                                 blocks: Blocks = Blocks()) -> Tensor {
        precondition(query.rank == 3 && query.shape[2] == cache.headDim && query.shape[0] <= cache.count,
                     "attention: q \(query.shape) over a cache of \(cache.count) × \(cache.kvHeads) × \(cache.headDim)")
        return attend(query: query, keys: cache.keys, values: cache.values, keyCount: cache.count, kvHeads: cache.kvHeads,
                      isCausal: true, scale: scale, blocks: blocks)
    }

    /// Bytes of scratch the kernel allocates for these sizes (all threads together).
    public static func scratchBytes(queries: Int, headDim: Int, blocks: Blocks = Blocks()) -> Int {
        let bq = blocks.queryTile(queries: queries, headDim: headDim)
        return OpParallel.threads * (bq * blocks.keyTile(queries: bq, headDim: headDim) + bq * headDim + 2 * bq) * 4
    }

    static func attend(query: Tensor, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, keyCount tk: Int,
                       kvHeads: Int, isCausal: Bool, scale: Float?, blocks: Blocks) -> Tensor {
        let tq = query.shape[0], heads = query.shape[1], d = query.shape[2]
        precondition(heads % kvHeads == 0, "attention: \(heads) query heads over \(kvHeads) key/value heads")
        precondition(!isCausal || tq <= tk, "attention: causal with more queries (\(tq)) than keys (\(tk))")
        let group = heads / kvHeads
        let alpha = scale ?? 1 / Float(d).squareRoot()
        let bq = blocks.queryTile(queries: tq, headDim: d), bk = blocks.keyTile(queries: bq, headDim: d)
        let qTiles = (tq + bq - 1) / bq
        let offset = tk - tq  // absolute position of query 0 when causal
        let ldq = Int32(heads * d), ldkv = Int32(kvHeads * d)
        return Tensor(shape: query.shape) { out in
            let dst = SendablePointer(out.baseAddress!)
            query.readPointer { q in
                OpParallel.forEach(heads * qTiles, costPerItem: bq * tk * d * 4) { range in
                    let s = UnsafeMutablePointer<Float>.allocate(capacity: bq * bk)
                    let acc = UnsafeMutablePointer<Float>.allocate(capacity: bq * d)
                    let m = UnsafeMutablePointer<Float>.allocate(capacity: bq)
                    let l = UnsafeMutablePointer<Float>.allocate(capacity: bq)
                    defer { s.deallocate(); acc.deallocate(); m.deallocate(); l.deallocate() }
                    for item in range {
                        let h = item / qTiles, i0 = (item % qTiles) * bq
                        let rows = min(bq, tq - i0)
                        let kvh = h / group
                        acc.initialize(repeating: 0, count: rows * d)
                        m.initialize(repeating: -.infinity, count: rows)
                        l.initialize(repeating: 0, count: rows)
                        let keyEnd = isCausal ? min(tk, offset + i0 + rows) : tk
                        var j0 = 0
                        while j0 < keyEnd {
                            let cols = min(bk, keyEnd - j0)
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(d), alpha,
                                        q + (i0 * heads + h) * d, ldq, k + (j0 * kvHeads + kvh) * d, ldkv,
                                        0, s, Int32(bk))
                            for r in 0..<rows {
                                let row = s + r * bk
                                let valid = isCausal ? min(cols, offset + i0 + r - j0 + 1) : cols
                                if valid <= 0 {
                                    row.update(repeating: 0, count: cols)
                                    continue
                                }
                                let mNew = max(m[r], ngo_max_row(row, valid))
                                let sum = ngo_exp_shift_row(row, valid, mNew)
                                if valid < cols { (row + valid).update(repeating: 0, count: cols - valid) }
                                let correction = m[r] == -.infinity ? 0 : Foundation.expf(m[r] - mNew)
                                if correction != 1 {
                                    let a = acc + r * d
                                    for i in 0..<d { a[i] *= correction }
                                }
                                l[r] = l[r] * correction + sum
                                m[r] = mNew
                            }
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(d), Int32(cols), 1,
                                        s, Int32(bk), v + (j0 * kvHeads + kvh) * d, ldkv, 1, acc, Int32(d))
                            j0 += cols
                        }
                        for r in 0..<rows {
                            let o = dst.base + ((i0 + r) * heads + h) * d, a = acc + r * d
                            let inv = l[r] > 0 ? 1 / l[r] : 0
                            for i in 0..<d { o[i] = a[i] * inv }
                        }
                    }
                }
            }
        }
    }

    /// `nn.MultiheadAttention` forward for one sequence (batch dimension dropped), no masks:
    /// query [L, E], key/value [S, E]; `inProjWeight` [3E, E], `inProjBias` [3E], `outProjWeight`
    /// [E, E], `outProjBias` [E]; `biasK`/`biasV` [E] for `add_bias_kv=True` → [L, E].
    public static func multiheadAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int,
                                          inProjWeight: Tensor, inProjBias: Tensor?,
                                          outProjWeight: Tensor, outProjBias: Tensor?,
                                          biasK: Tensor? = nil, biasV: Tensor? = nil) -> Tensor {
        let e = query.shape[1], d = e / heads
        let w = Shape.chunk(inProjWeight, 3, dim: 0)
        let b = inProjBias.map { Shape.chunk($0, 3, dim: 0) }
        let q = Linear.linear(query, weight: w[0], bias: b?[0]).reshaped([query.shape[0], heads, d])
        let k = Linear.linear(key, weight: w[1], bias: b?[1]).reshaped([key.shape[0], heads, d])
        let v = Linear.linear(value, weight: w[2], bias: b?[2]).reshaped([value.shape[0], heads, d])
        let o = scaledDotProductAttention(query: q, key: k, value: v, biasKey: biasK, biasValue: biasV)
        return Linear.linear(o.reshaped([query.shape[0], e]), weight: outProjWeight, bias: outProjBias)
    }
}

/// Keys and values of past positions for causal decoding: [capacity, kvHeads, headDim] each,
/// grown by doubling when full.
public final class KVCache: @unchecked Sendable {
    public let kvHeads: Int
    public let headDim: Int
    public private(set) var count = 0
    public private(set) var capacity: Int
    private(set) var keyStorage: UnsafeMutablePointer<Float>
    private(set) var valueStorage: UnsafeMutablePointer<Float>

    public init(kvHeads: Int, headDim: Int, capacity: Int = 256) {
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.capacity = max(capacity, 1)
        keyStorage = .allocate(capacity: self.capacity * kvHeads * headDim)
        valueStorage = .allocate(capacity: self.capacity * kvHeads * headDim)
    }

    deinit { keyStorage.deallocate(); valueStorage.deallocate() }

    var keys: UnsafePointer<Float> { UnsafePointer(keyStorage) }
    var values: UnsafePointer<Float> { UnsafePointer(valueStorage) }

    /// Appends keys and values [T, kvHeads, headDim] (after RoPE).
    public func append(keys: Tensor, values: Tensor) {
        precondition(keys.shape == values.shape && keys.rank == 3 && keys.shape[1] == kvHeads && keys.shape[2] == headDim,
                     "KVCache.append: keys \(keys.shape), values \(values.shape) for \(kvHeads) × \(headDim)")
        let t = keys.shape[0], row = kvHeads * headDim
        if count + t > capacity {
            var newCapacity = capacity
            while count + t > newCapacity { newCapacity *= 2 }
            let used = count * row
            func grow(_ p: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
                let grown = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * row)
                grown.update(from: p, count: used)
                p.deallocate()
                return grown
            }
            keyStorage = grow(keyStorage)
            valueStorage = grow(valueStorage)
            capacity = newCapacity
        }
        keys.readPointer { (keyStorage + count * row).update(from: $0, count: t * row) }
        values.readPointer { (valueStorage + count * row).update(from: $0, count: t * row) }
        count += t
    }

    /// Forgets every position (keeps the storage).
    public func removeAll() { count = 0 }
}
