import NextGPTCore
import NextGPTKernels

extension TextToVideoSDPipeline {
    /// Runs the request, reporting each denoising step (phase `denoising`, unit `step`) and each
    /// decoded chunk (phase `decoding`, unit `frame`) to `progress`; elapsed is each phase's own time. Stops
    /// with `CancellationError` after the unit at which `progress.isCancelled` turns true.
    public func generate(_ request: TextToVideoRequest, context: ExecutionContext, progress: any ProgressReporter) throws
        -> (frames: Tensor, stats: StableDiffusionStats) {
        try generate(request, context: context, onStep: { done, total, stats in
            progress.report(ProgressUpdate(phase: "denoising", completed: done, total: total, unit: "step",
                                           elapsedSeconds: stats.stepSeconds.reduce(0, +)))
            try progress.checkCancellation()
        }, onDecode: { done, total, stats in
            progress.report(ProgressUpdate(phase: "decoding", completed: done, total: total, unit: "frame",
                                           elapsedSeconds: stats.vaeDecodeSeconds))
            try progress.checkCancellation()
        })
    }
}
