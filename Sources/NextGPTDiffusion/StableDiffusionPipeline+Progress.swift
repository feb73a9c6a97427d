import NextGPTCore
import NextGPTKernels

extension StableDiffusionPipeline {
    /// Runs the request, reporting each denoising step to `progress` (elapsed: the steps' own
    /// time, so the rate and ETA leave out the text encoder); stops after the step at which
    /// `progress.isCancelled` turns true, with `CancellationError`.
    public func generate(_ request: StableDiffusionRequest, context: ExecutionContext, progress: any ProgressReporter) throws
        -> (decoded: Tensor, stats: StableDiffusionStats) {
        try generate(request, context: context, onStep: { done, total, stats in
            progress.report(ProgressUpdate(phase: "denoising", completed: done, total: total, unit: "step",
                                           elapsedSeconds: stats.stepSeconds.reduce(0, +)))
            try progress.checkCancellation()
        }, onDecode: { _ in
            progress.report(ProgressUpdate(phase: "decoding", completed: 0, total: 1, unit: "image", elapsedSeconds: 0))
        })
    }
}
