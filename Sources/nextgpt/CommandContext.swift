import Foundation
import NextGPTKernels
import NextGPTLayers

extension ExecutionContext {
    /// The context a command runs in: `threads` workers (default: all cores) and, under
    /// `NEXTGPT_PROFILE=1`, a profile of the layers' wall time for the command to print;
    /// `NEXTGPT_WINOGRAD_CACHE_MB` sets the denoising loops' `winogradKernelBudget` (0: none);
    /// `NEXTGPT_ACTIVATION_ARENA=0` runs without activation arenas (to compare), `=poison` fills
    /// arena memory a kernel must write with NaN (to find one that reads or leaves what it did not write);
    /// `NEXTGPT_LANE_GEMM_OVER_WINOGRAD=0` gives quantized 3×3 convolutions Winograd (f32 activations)
    /// where it applies rather than the lane GEMM (8-bit activations), to compare speed and quality.
    static func command(threads: Int?) -> ExecutionContext {
        var context = ExecutionContext(threads: threads)
        let environment = ProcessInfo.processInfo.environment
        if environment["NEXTGPT_PROFILE"] == "1" { context.profile = OpProfile() }
        if let megabytes = environment["NEXTGPT_WINOGRAD_CACHE_MB"].flatMap(Int.init), megabytes >= 0 {
            context.winogradKernelBudget = megabytes << 20
        }
        if environment["NEXTGPT_LANE_GEMM_OVER_WINOGRAD"] == "0" { context.laneGEMMOverWinograd = false }
        switch environment["NEXTGPT_ACTIVATION_ARENA"] {
        case "0": context.activationArenaMinimumBytes = nil
        case "poison": context.poisonsActivations = true
        default: break
        }
        return context
    }
}

/// The end of every closing timing line: the kernel level the matrix products ran at
/// (`NEXTGPT_KERNEL_LEVEL` lowers it), then the memory.
func closingTail(_ context: ExecutionContext, _ memory: MemoryReport = .current()) -> String {
    "kernels \(context.kernelLevel); \(memory)"
}
