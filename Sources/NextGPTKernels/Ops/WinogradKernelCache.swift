import Synchronization

/// Winograd-domain kernels kept for the length of a run that calls the same convolutions many
/// times (a denoising loop's UNet), within a byte budget. Transforming a kernel costs more than the
/// product it feeds: on an AVX2-only Zen 1 EPYC (`BENCH_SECTIONS=winogradq8 nextgpt-bench`, Q8_0,
/// batch 2) 2×640×16×16 ran in 133 ms with the transform and 27 ms without, against 63 ms through
/// the integer kernels. Each kernel costs 4× its f32 size (`WinogradKernel`), so the largest
/// (1280 × 2560 channels, 472 MB) are left out by `largestKernelBytes`.
public final class WinogradKernelCache: Sendable {
    public let budgetBytes: Int
    /// The largest transformed kernel kept: an eighth of the budget, so one kernel never fills it
    /// and the small ones, which save the most time per byte, get in.
    public var largestKernelBytes: Int { budgetBytes / 8 }

    private struct Entry {
        let owner: AnyObject & Sendable
        let kernel: WinogradKernel
    }
    private let state = Mutex<(entries: [ObjectIdentifier: Entry], bytes: Int)>(([:], 0))

    public init(budgetBytes: Int) {
        self.budgetBytes = budgetBytes
    }

    /// Bytes held.
    public var byteCount: Int { state.withLock { $0.bytes } }

    /// The transformed kernel of `owner` (a layer, held until the cache goes, so its identity is
    /// never reused): the kept one, else `make()` kept when `byteCount` fits the budget, else nil
    /// (the caller takes another path, without transforming).
    public func kernel(for owner: AnyObject & Sendable, byteCount: Int, make: () -> WinogradKernel) -> WinogradKernel? {
        let key = ObjectIdentifier(owner)
        let admitted: Bool = state.withLock { state in
            state.entries[key] != nil || (byteCount <= largestKernelBytes && state.bytes + byteCount <= budgetBytes)
        }
        guard admitted else { return nil }
        if let kept = state.withLock({ $0.entries[key]?.kernel }) { return kept }
        // Outside the loop's activation arena: a kept kernel lives as long as the loop, and in the
        // arena it would count toward the activations' plan and hold one of its blocks throughout.
        let made = ActivationArena.$current.withValue(nil) { make() }
        return state.withLock { state in
            if let kept = state.entries[key] { return kept.kernel }  // another caller made it meanwhile
            guard state.bytes + made.byteCount <= budgetBytes else { return made }
            state.entries[key] = Entry(owner: owner, kernel: made)
            state.bytes += made.byteCount
            return made
        }
    }
}

extension Convolution {
    /// Whether a call on batch × H × W is one whose kernel a loop keeps transformed: at least
    /// `winogradMinimumTilesKept` tiles per sample, at most `winogradMaximumTilesKept` over the batch.
    package static func keepsWinogradKernel(batch: Int, height: Int, width: Int, context: ExecutionContext) -> Bool {
        let tilesPerSample = ((height + 3) / 4) * ((width + 3) / 4)
        return tilesPerSample >= context.winogradMinimumTilesKept && batch * tilesPerSample <= context.winogradMaximumTilesKept
    }
}

extension ExecutionContext {
    /// This context with a fresh `winogradKernels` cache of `winogradKernelBudget` bytes (none when
    /// the budget is 0): for a loop that runs one model many times, dropped with the loop.
    public func keepingWinogradKernels() -> ExecutionContext {
        var context = self
        context.winogradKernels = winogradKernelBudget > 0 ? WinogradKernelCache(budgetBytes: winogradKernelBudget) : nil
        return context
    }
}
