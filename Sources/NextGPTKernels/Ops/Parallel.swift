
/// Splitting of op loops over the execution context's thread pool. A split requested while the
/// pool is busy (nested inside another parallel op) runs on the calling thread.
enum OpParallel {
    /// Runs `body(range)` over contiguous ranges covering `0..<count`, in parallel when the work
    /// (`count * costPerItem`, roughly in flops or touched floats) is worth it (≥ 32 K per thread).
    @inline(__always)
    static func forEach(_ count: Int, costPerItem: Int = 1, context: ExecutionContext, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let minimumWork = 1 << 15
        context.pool.parallelFor(count, minimumPerThread: max(1, minimumWork / max(costPerItem, 1)), body)
    }
}

/// A pointer that can cross into the pool's closures, which write through it.
// @unchecked: only a pointer; each parallel op writes disjoint ranges through it and the memory
// outlives the call.
struct SendablePointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// A pointer that can cross into the pool's closures, which only read through it.
// @unchecked: only a pointer; the caller keeps the memory alive and unmodified until the parallel
// call returns.
struct SendableReadPointer<T>: @unchecked Sendable {
    let pointer: UnsafePointer<T>
    init(_ pointer: UnsafePointer<T>) { self.pointer = pointer }
}

extension Tensor {
    /// Base address for reading (valid while `self` is alive and unmodified).
    @inline(__always)
    package func readPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// `count` floats of scratch for the length of `body`, which writes every one it reads: from
    /// the activation arena's scratch blocks when one is bound and takes this size, so a denoising
    /// loop maps and faults its products' buffers in on the first pass only (a 512² SD step's
    /// Winograd buffers of 12–34 MB were fresh mappings every call, 25 thousand page faults per
    /// UNet evaluation); else from the heap, unzeroed (a tensor's heap storage is zero-filled).
    package static func withScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        if let arena = ActivationArena.current, count * 4 >= arena.minimumBytes {
            return try arena.withScratch(byteCount: count * 4) { try body($0.bindMemory(to: Float.self, capacity: count)) }
        }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        defer { scratch.deallocate() }
        return try body(scratch)
    }

    /// Product of the dimensions before `dim`, the size of `dim` and the product of those after.
    func outerInner(_ dim: Int) -> (outer: Int, size: Int, inner: Int) {
        (shape[..<dim].reduce(1, *), shape[dim], shape[(dim + 1)...].reduce(1, *))
    }

    /// `dim` with negative values counted from the end (as PyTorch).
    func resolve(_ dim: Int) -> Int {
        let d = dim < 0 ? dim + rank : dim
        precondition(d >= 0 && d < rank, "dim \(dim) out of range for \(shape)")
        return d
    }
}
