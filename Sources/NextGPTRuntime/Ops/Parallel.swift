import Dispatch
import NextGPTCore

/// Splitting of op loops over threads. `DispatchQueue.concurrentPerform` for now; the kernel
/// layer's thread pool replaces it when it lands (one place to change).
enum OpParallel {
    /// Threads the ops may use.
    nonisolated(unsafe) static var threads = max(1, System.activeProcessorCount)

    /// Runs `body(range)` over contiguous ranges covering `0..<count`, in parallel when the work
    /// (`count * costPerItem`, roughly in flops or touched floats) is worth it.
    @inline(__always)
    static func forEach(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let minimumWork = 1 << 15
        let chunks = min(count, threads, max(1, count.multipliedReportingOverflow(by: max(costPerItem, 1)).partialValue / minimumWork))
        if chunks <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let lo = count * chunk / chunks, hi = count * (chunk + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Raw pointer wrapper that can cross into concurrent closures.
struct SendablePointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

extension Tensor {
    /// Base address for reading (valid while `self` is alive and unmodified).
    @inline(__always)
    func readPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body($0.baseAddress!) }
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
