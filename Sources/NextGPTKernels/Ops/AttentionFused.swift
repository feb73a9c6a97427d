import CNextGPTKernels

extension Attention {
    /// A body of the fused kernel (`ngk_attention_rows*`, Sources/CNextGPTKernels/attention_fused.c).
    enum FusedBody: Sendable, CaseIterable {
        case avx512
        case avx2
        /// The scalar twin (tests only: no kernel level picks it, the tiles are faster).
        case reference

        func callAsFunction(_ head: UnsafePointer<ngk_attention_head>, firstQuery: Int, queries: Int,
                            scratch: UnsafeMutablePointer<Float>) {
            switch self {
            case .avx512: ngk_attention_rows_avx512(head, firstQuery, queries, scratch)
            case .avx2: ngk_attention_rows(head, firstQuery, queries, scratch)
            case .reference: ngk_attention_rows_ref(head, firstQuery, queries, scratch)
            }
        }
    }

    /// Query rows per work item of the fused kernel (a multiple of every body's row group: 6, 4, 3).
    static let fusedQueryTile = 48
    /// Fewer queries (decode steps) take the tiles: the fused kernel's row groups would run mostly
    /// padding, and its per-call key packing would cost as much as the products.
    static let fusedMinimumQueries = 8

    /// The fused body `context` runs for these widths, or nil when the call takes the tiles: the
    /// context asks for them, its kernel level has no fused body (scalar, NEON), or a width is not
    /// a multiple of 8 up to 160.
    static func fusedBody(_ context: ExecutionContext, headDim d: Int, valueDim dv: Int) -> FusedBody? {
        guard context.attentionKernel == .fused, ngk_attention_fused_covers(d, dv) != 0 else { return nil }
        switch context.kernelLevel {
        case .avx512VNNI: return .avx512
        case .avx2: return .avx2
        case .scalar, .neon: return nil
        }
    }

    /// `attend` through the fused kernel: each key/value head's keys packed once (in parallel over
    /// heads), then heads × query tiles handed to whichever participant is free.
    static func attendFused(query: Tensor, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, keyCount tk: Int,
                            kvHeads: Int, valueDim dv: Int, causal: CausalAlignment?,
                            mask: (base: UnsafePointer<Float>, layout: MaskLayout)?, padding: UnsafePointer<Float>?,
                            scale: Float, body: FusedBody, context: ExecutionContext) -> Tensor {
        let tq = query.shape[0], heads = query.shape[1], d = query.shape[2]
        let group = heads / kvHeads
        let panelFloats = ngk_attention_packed_keys_floats(tk, d)
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: max(1, kvHeads * panelFloats))
        defer { packed.deallocate() }
        let packedKeys = SendablePointer(packed)
        OpParallel.forEach(kvHeads, costPerItem: tk * d, context: context) { range in
            for h in range { ngk_attention_pack_keys(k + h * d, kvHeads * d, tk, d, packedKeys.base + h * panelFloats) }
        }
        // Key padding alone is a mask row shared by every query and head.
        let additive: (base: UnsafePointer<Float>, headStride: Int, rowStride: Int, columns: Int)? =
            mask.map { ($0.base, $0.layout.headStride, $0.layout.rowStride, $0.layout.columns) } ?? padding.map { ($0, 0, 0, tk) }
        let offset = causal == .bottomRight ? tk - tq : 0
        let tile = fusedQueryTile, tiles = (tq + tile - 1) / tile
        let scratchFloats = ngk_attention_scratch_floats(tile, d, dv)
        let work = heads * tq * tk * (d + dv) * 2
        let participants = work < 1 << 17 ? 1 : context.threads
        return Tensor(shape: [tq, heads, dv]) { out in
            let dst = SendablePointer(out.baseAddress!)
            query.readPointer { q in
                context.pool.parallelFor(heads * tiles, chunk: max(1, heads * tiles / (8 * context.threads)),
                                         participants: participants) { range in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchFloats)
                    defer { scratch.deallocate() }
                    for item in range {
                        let h = item / tiles, first = (item % tiles) * tile
                        var head = ngk_attention_head(
                            q: q + h * d, ldq: heads * d, kt: packedKeys.base + (h / group) * panelFloats,
                            v: v + (h / group) * dv, ldv: kvHeads * dv, o: dst.base + h * dv, ldo: heads * dv,
                            tk: tk, d: d, dv: dv, scale: scale,
                            mask: additive.map { $0.base + h * $0.headStride }, mask_ld: additive?.rowStride ?? 0,
                            mask_cols: additive?.columns ?? 0, causal: causal != nil ? 1 : 0, causal_offset: offset)
                        body(&head, firstQuery: first, queries: min(tile, tq - first), scratch: scratch)
                    }
                }
            }
        }
    }

    /// `batchedScaledDotProductAttention` through the fused kernel: one work item is one sequence,
    /// its heads' keys packed into the participant's own buffer one head at a time.
    static func batchedFused(query: Tensor, key: Tensor, value: Tensor, scale: Float, body: FusedBody,
                             context: ExecutionContext) -> Tensor {
        let (b, tq, heads, d) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3])
        let (tk, dv) = (key.shape[1], value.shape[3])
        let (ldq, ldv) = (heads * d, heads * dv)
        let tile = fusedQueryTile
        let panelFloats = ngk_attention_packed_keys_floats(tk, d)
        let scratchFloats = ngk_attention_scratch_floats(min(tile, tq), d, dv)
        return Tensor(shape: [b, tq, heads, dv]) { out in
            let dst = SendablePointer(out.baseAddress!)
            query.readPointer { q in
                key.readPointer { k in
                    value.readPointer { v in
                        OpParallel.forEach(b, costPerItem: heads * tq * tk * (d + dv) * 2, context: context) { range in
                            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchFloats)
                            let packed = UnsafeMutablePointer<Float>.allocate(capacity: panelFloats)
                            defer { scratch.deallocate(); packed.deallocate() }
                            for sequence in range {
                                for h in 0..<heads {
                                    ngk_attention_pack_keys(k + sequence * tk * ldq + h * d, ldq, tk, d, packed)
                                    var head = ngk_attention_head(
                                        q: q + sequence * tq * ldq + h * d, ldq: ldq, kt: packed,
                                        v: v + sequence * tk * ldv + h * dv, ldv: ldv, o: dst.base + sequence * tq * ldv + h * dv,
                                        ldo: ldv, tk: tk, d: d, dv: dv, scale: scale, mask: nil, mask_ld: 0, mask_cols: 0,
                                        causal: 0, causal_offset: 0)
                                    var first = 0
                                    while first < tq {
                                        body(&head, firstQuery: first, queries: min(tile, tq - first), scratch: scratch)
                                        first += tile
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
