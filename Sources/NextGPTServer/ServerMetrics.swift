import Foundation
import NextGPTLayers
import Synchronization

/// Counters and last rates behind `/metrics` (Prometheus text format).
final class ServerMetrics: Sendable {
    private struct State {
        var requests: [String: Int] = [:]  // "endpoint status" → count
        var rejected = 0
        var cancelled = 0
        var tokens = 0
        var tokenSeconds = 0.0
        var lastTokensPerSecond = 0.0
        var steps = 0
        var stepSeconds = 0.0
        var lastSecondsPerStep = 0.0
        var jobSeconds = 0.0
        var jobs = 0
    }
    private let state = Mutex(State())

    func recordRequest(endpoint: String, status: Int) {
        state.withLock { $0.requests["\(endpoint) \(status)", default: 0] += 1 }
    }

    func recordRejected() { state.withLock { $0.rejected += 1 } }
    func recordCancelled() { state.withLock { $0.cancelled += 1 } }

    func recordTokens(_ count: Int, seconds: Double) {
        guard count > 0, seconds > 0 else { return }
        state.withLock {
            $0.tokens += count
            $0.tokenSeconds += seconds
            $0.lastTokensPerSecond = Double(count) / seconds
        }
    }

    func recordSteps(_ count: Int, seconds: Double) {
        state.withLock {
            $0.steps += count
            $0.stepSeconds += seconds
            $0.lastSecondsPerStep = seconds / Double(count)
        }
    }

    func recordJob(seconds: Double) {
        state.withLock {
            $0.jobs += 1
            $0.jobSeconds += seconds
        }
    }

    /// Mean seconds of a finished job (1 before any), for Retry-After.
    var meanJobSeconds: Double { state.withLock { $0.jobs == 0 ? 1 : $0.jobSeconds / Double($0.jobs) } }

    func prometheus(queueLength: Int, busy: Bool, media: (files: Int, bytes: Int)) -> String {
        let s = state.withLock { $0 }
        let memory = MemoryReport.current()
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            for sample in samples { lines.append("\(name)\(sample.labels) \(sample.value)") }
        }
        func one(_ value: some Numeric) -> [(labels: String, value: String)] { [("", "\(value)")] }
        metric("nextgpt_queue_length", "gauge", "Requests waiting for the model.", one(queueLength))
        metric("nextgpt_busy", "gauge", "1 while a request computes.", one(busy ? 1 : 0))
        metric("nextgpt_requests_total", "counter", "Answered requests by endpoint and status.",
               s.requests.keys.sorted().map { key in
                   let parts = key.split(separator: " ")
                   return ("{endpoint=\"\(parts[0])\",status=\"\(parts[1])\"}", "\(s.requests[key]!)")
               })
        metric("nextgpt_rejected_total", "counter", "Requests refused because the queue was full.", one(s.rejected))
        metric("nextgpt_cancelled_total", "counter", "Requests whose client went away before the result.", one(s.cancelled))
        metric("nextgpt_generated_tokens_total", "counter", "Tokens generated.", one(s.tokens))
        metric("nextgpt_tokens_per_second", "gauge", "Generation rate of the last reply.", one(s.lastTokensPerSecond))
        metric("nextgpt_denoising_steps_total", "counter", "Denoising steps run.", one(s.steps))
        metric("nextgpt_seconds_per_step", "gauge", "Seconds per denoising step of the last run.", one(s.lastSecondsPerStep))
        metric("nextgpt_resident_memory_bytes", "gauge", "Resident memory (anonymous + file pages).", one(memory.anonymousBytes + memory.fileBytes))
        metric("nextgpt_peak_resident_memory_bytes", "gauge", "Peak resident memory (VmHWM; any-to-any runs reset it at each stage).", one(memory.peakBytes))
        metric("nextgpt_media_files", "gauge", "Generated files served.", one(media.files))
        metric("nextgpt_media_bytes", "gauge", "Bytes of generated files served.", one(media.bytes))
        return lines.joined(separator: "\n") + "\n"
    }
}
