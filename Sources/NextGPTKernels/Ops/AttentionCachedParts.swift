import CNextGPTKernels

extension Attention {
    /// Visible positions from which decode splits a row's positions over the pool instead of its
    /// heads: each part then reads whole cache rows (every head's slice of a position) where a
    /// thread's run of heads reads a few KiB of each 8 KiB row (7B). 7B Q4_0 after 512 tokens,
    /// f16 cache: attention's samples against the matrix-vector kernel's 0.187 → 0.097.
    package static let partsFromPositions = 256
    /// Positions per part at least (parts: up to 4 per thread, taken on demand).
    static let partMinimumPositions = 64

    /// One part of a row's cache for `attendCachedParts`: (the row's queries [heads, d], first
    /// position, positions, scores scratch heads × positions, maxima, sums, unnormalised outputs).
    typealias CachedPart = (UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                            UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void

    /// Flash-decoding: each query row's visible positions of the cache (`count` positions, the
    /// newest rows last) in parts handed to whichever thread is free, each part's maxima, sums and
    /// unnormalised outputs merged by `ngo_attend_merge_parts`.
    static func attendCachedParts(query: Tensor, count tk: Int, context: ExecutionContext, _ part: CachedPart) -> Tensor {
        let tq = query.shape[0], heads = query.shape[1], d = query.shape[2]
        return Tensor(shape: [tq, heads, d]) { out in
            query.readPointer { q in
                for i in 0..<tq {
                    let visible = tk - tq + i + 1
                    let parts = min(4 * context.threads, max(1, visible / partMinimumPositions))
                    let m = UnsafeMutablePointer<Float>.allocate(capacity: parts * heads)
                    let l = UnsafeMutablePointer<Float>.allocate(capacity: parts * heads)
                    let o = UnsafeMutablePointer<Float>.allocate(capacity: parts * heads * d)
                    defer { m.deallocate(); l.deallocate(); o.deallocate() }
                    let (maxima, sums, partial) = (SendablePointer(m), SendablePointer(l), SendablePointer(o))
                    let row = SendableReadPointer(q + i * heads * d)
                    context.pool.parallelFor(parts, chunk: 1) { range in
                        for p in range {
                            let j0 = visible * p / parts, j1 = visible * (p + 1) / parts
                            let scores = UnsafeMutablePointer<Float>.allocate(capacity: heads * (j1 - j0))
                            defer { scores.deallocate() }
                            part(row.pointer, j0, j1 - j0, scores, maxima.base + p * heads, sums.base + p * heads,
                                 partial.base + p * heads * d)
                        }
                    }
                    ngo_attend_merge_parts(parts, heads, d, m, l, o, out.baseAddress! + i * heads * d)
                }
            }
        }
    }
}
