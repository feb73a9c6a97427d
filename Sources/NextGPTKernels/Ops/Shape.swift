
/// Shape ops: PyTorch's `cat`, `split`, `chunk`, `permute`, `transpose`, `reshape`. All return
/// new contiguous tensors (no strided views); `reshape` shares storage.
public enum Shape {
    /// `torch.cat(tensors, dim)`: every shape equal except along `dim`.
    public static func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "cat of no tensors")
        let first = tensors[0]
        let d = first.resolve(dim)
        for t in tensors {
            precondition(t.rank == first.rank && t.shape.indices.allSatisfy { $0 == d || t.shape[$0] == first.shape[$0] },
                         "cat: shapes \(tensors.map(\.shape)) differ outside dim \(d)")
        }
        var shape = first.shape
        shape[d] = tensors.reduce(0) { $0 + $1.shape[d] }
        let outer = first.shape[..<d].reduce(1, *), inner = first.shape[(d + 1)...].reduce(1, *)
        let rowOut = shape[d] * inner
        return Tensor(shape: shape) { out in
            var offset = 0
            for t in tensors {
                let rowIn = t.shape[d] * inner
                t.readPointer { src in
                    for o in 0..<outer {
                        (out.baseAddress! + o * rowOut + offset).update(from: src + o * rowIn, count: rowIn)
                    }
                }
                offset += rowIn
            }
        }
    }

    /// `torch.split(x, sizes, dim)` with explicit section sizes (summing to the dim's size).
    public static func split(_ x: Tensor, sizes: [Int], dim: Int = 0) -> [Tensor] {
        let d = x.resolve(dim)
        precondition(sizes.reduce(0, +) == x.shape[d], "split sizes \(sizes) do not sum to \(x.shape[d])")
        let (outer, size, inner) = x.outerInner(d)
        var start = 0
        return sizes.map { n in
            var shape = x.shape
            shape[d] = n
            let s = start
            start += n
            return Tensor(shape: shape) { out in
                x.readPointer { src in
                    for o in 0..<outer {
                        (out.baseAddress! + o * n * inner).update(from: src + (o * size + s) * inner, count: n * inner)
                    }
                }
            }
        }
    }

    /// `torch.split(x, splitSize, dim)`: pieces of `splitSize`, the last one possibly smaller.
    public static func split(_ x: Tensor, splitSize: Int, dim: Int = 0) -> [Tensor] {
        let n = x.shape[x.resolve(dim)]
        return split(x, sizes: stride(from: 0, to: n, by: splitSize).map { min(splitSize, n - $0) }, dim: dim)
    }

    /// `torch.chunk(x, chunks, dim)`: pieces of `ceil(n / chunks)` (fewer pieces when they run out).
    public static func chunk(_ x: Tensor, _ chunks: Int, dim: Int = 0) -> [Tensor] {
        let n = x.shape[x.resolve(dim)]
        return split(x, splitSize: (n + chunks - 1) / chunks, dim: dim)
    }

    /// `x.repeat_interleave(repeats, dim)`: each slice along `dim` repeated `repeats` times in place.
    public static func repeatInterleave(_ x: Tensor, _ repeats: Int, dim: Int = 0) -> Tensor {
        precondition(repeats > 0, "repeat_interleave: \(repeats) repeats")
        let d = x.resolve(dim)
        if repeats == 1 { return x }
        let outer = x.shape[..<d].reduce(1, *), extent = x.shape[d], inner = x.shape[(d + 1)...].reduce(1, *)
        var shape = x.shape
        shape[d] *= repeats
        return Tensor(shape: shape) { out in
            x.readPointer { src in
                var dst = out.baseAddress!
                for o in 0..<outer {
                    for i in 0..<extent {
                        let slice = src + (o * extent + i) * inner
                        for _ in 0..<repeats {
                            dst.update(from: slice, count: inner)
                            dst += inner
                        }
                    }
                }
            }
        }
    }

    /// `x.permute(dims)`: output dimension i is input dimension `dims[i]`.
    public static func permute(_ x: Tensor, _ dims: [Int], context: ExecutionContext) -> Tensor {
        let r = x.rank
        let dims = dims.map { $0 < 0 ? $0 + r : $0 }
        precondition(dims.sorted() == Array(0..<r), "permute \(dims) is not a permutation of \(r) dims")
        let outShape = dims.map { x.shape[$0] }
        if dims == Array(0..<r) { return x.reshaped(outShape) }
        var inStrides = [Int](repeating: 1, count: r)
        for i in stride(from: r - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
        // Output walked row-major; `strides[i]` is the input stride of output dim i.
        let strides = dims.map { inStrides[$0] }
        let last = outShape[r - 1], lastStride = strides[r - 1]
        let rows = x.count / max(last, 1)
        return Tensor(shape: outShape) { out in
            x.readPointer { src in
                let dst = SendablePointer(out.baseAddress!)
                OpParallel.forEach(rows, costPerItem: last, context: context) { range in
                    var index = [Int](repeating: 0, count: r)
                    var rem = range.lowerBound
                    for i in stride(from: r - 2, through: 0, by: -1) { index[i] = rem % outShape[i]; rem /= outShape[i] }
                    for row in range {
                        var base = 0
                        for i in 0..<(r - 1) { base += index[i] * strides[i] }
                        let o = dst.base + row * last
                        if lastStride == 1 {
                            o.update(from: src + base, count: last)
                        } else {
                            for j in 0..<last { o[j] = src[base + j * lastStride] }
                        }
                        var i = r - 2
                        while i >= 0 {
                            index[i] += 1
                            if index[i] < outShape[i] { break }
                            index[i] = 0
                            i -= 1
                        }
                    }
                }
            }
        }
    }

    /// `x.transpose(dim0, dim1)`.
    public static func transpose(_ x: Tensor, _ dim0: Int, _ dim1: Int, context: ExecutionContext) -> Tensor {
        var dims = Array(0..<x.rank)
        dims.swapAt(x.resolve(dim0), x.resolve(dim1))
        return permute(x, dims, context: context)
    }

    /// `x.reshape(shape)` (one entry may be -1); shares storage.
    public static func reshape(_ x: Tensor, _ shape: [Int]) -> Tensor { x.reshaped(shape) }
}
