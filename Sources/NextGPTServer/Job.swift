import Foundation
import NextGPTCore
import Synchronization

/// One request's work as the sessions see it: a progress reporter that says when the client has
/// gone (so the run stops at its next token or denoising step) and passes updates on.
final class Job: ProgressReporter, Sendable {
    private let cancelled = Atomic<Bool>(false)
    private let observer = Mutex<(@Sendable (ProgressUpdate) -> Void)?>(nil)
    /// The last step update seen (steps done, seconds), so each step is counted once as it ends.
    private let lastStep = Mutex((completed: 0, seconds: 0.0))
    let metrics: ServerMetrics

    init(metrics: ServerMetrics) { self.metrics = metrics }

    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Set once the handler has answered: Hummingbird then stops watching the connection, and
    /// reports that as an inbound close, which must not cancel a stream still being written.
    private let answered = Atomic<Bool>(false)
    func markAnswered() { answered.store(true, ordering: .relaxed) }

    /// The connection's inbound side ended: the client is gone, unless the handler had answered.
    func inboundClosed() { if !answered.load(ordering: .relaxed) { cancel() } }

    /// Sends every later update to `body` too (a stream's progress comments).
    func observe(_ body: @escaping @Sendable (ProgressUpdate) -> Void) { observer.withLock { $0 = body } }

    func report(_ progress: ProgressUpdate) {
        if progress.unit == "step" {
            let (steps, seconds) = lastStep.withLock { last in
                // A new denoising loop starts its count again.
                let base = progress.completed < last.completed ? (0, 0.0) : last
                last = (progress.completed, progress.elapsedSeconds)
                return (progress.completed - base.0, progress.elapsedSeconds - base.1)
            }
            if steps > 0 { metrics.recordSteps(steps, seconds: seconds) }
        }
        observer.withLock { $0 }?(progress)
    }
}
