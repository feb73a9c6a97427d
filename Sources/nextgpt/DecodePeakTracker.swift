import NextGPTCore
import NextGPTLayers

/// The peak resident memory of the VAE decode, apart from the run's: when the decoding phase
/// begins (the loop and its kept Winograd kernels gone) the peak so far is kept and the process's
/// mark reset, so the mark read at the end is the decode's own. The command owns its process, so
/// resetting the mark there spoils no one else's measurement.
final class DecodePeakTracker: ProgressReporter {
    private let forward: any ProgressReporter
    private var loopPeakBytes: Int?
    private var reset = false

    init(forwarding forward: any ProgressReporter) { self.forward = forward }

    /// Steps go on to the bar; the decode's start only marks the phase (the closing line times it).
    func report(_ update: ProgressUpdate) {
        guard update.phase == "decoding" else { return forward.report(update) }
        if update.completed == 0 && loopPeakBytes == nil {
            loopPeakBytes = MemoryReport.current().peakBytes
            reset = MemoryReport.resetPeak()
        }
    }

    var isCancelled: Bool { forward.isCancelled }

    /// `end` (read after the decode) with its peak the run's, and the decode's own peak (nil when
    /// the mark could not be reset).
    func peaks(_ end: MemoryReport) -> (run: MemoryReport, decodePeakBytes: Int?) {
        var run = end
        run.peakBytes = max(end.peakBytes, loopPeakBytes ?? 0)
        return (run, reset ? end.peakBytes : nil)
    }
}
