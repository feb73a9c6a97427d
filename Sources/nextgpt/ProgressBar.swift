#if canImport(Glibc)
// @preconcurrency: for `stderr`, a C global libc never reassigns; FILE streams lock themselves.
@preconcurrency import Glibc
#endif
import NextGPTCore

/// One line on stderr, redrawn at most ten times a second. Jobs that count bytes (convert,
/// export) show bar, percent, bytes, MB/s, ETA and the current unit; others (denoising steps,
/// tokens) show bar, units done, seconds per unit and ETA. When stderr is not a terminal it
/// prints a plain line every 10% of the bytes, or every unit.
final class ProgressBar: ProgressReporter {
    private let label: String?
    private let interactive = isatty(2) != 0
    private let width = 24
    private var lastDraw = -1.0
    private var lastDecile = -1
    private var drawn = false

    /// `label` starts the line (the job's phase when nil and bytes are counted).
    init(label: String? = nil) { self.label = label }

    func report(_ p: ProgressUpdate) {
        if let done = p.bytesCompleted, let total = p.bytesTotal {
            reportBytes(p, done: done, total: total)
        } else {
            reportUnits(p)
        }
    }

    private func reportBytes(_ p: ProgressUpdate, done: Int, total: Int) {
        let fraction = p.fraction
        let rate = p.elapsedSeconds > 0 ? Double(done) / p.elapsedSeconds / 1e6 : 0
        let eta = rate > 0 ? Double(total - done) / 1e6 / rate : 0
        let text = String(format: "%@ %3.0f%% %7.1f/%.1f MB %6.0f MB/s ETA %4.0fs  %@ %d/%d",
                          label ?? p.phase, fraction * 100, Double(done) / 1e6, Double(total) / 1e6, rate, eta,
                          p.unit, min(p.completed + 1, p.total), p.total)
        if interactive {
            guard p.elapsedSeconds - lastDraw >= 0.1 || done == total else { return }
            lastDraw = p.elapsedSeconds
            fputs("\r[\(bar(filled: Int(fraction * Double(width))))] \(text)\u{1B}[K", stderr)
            drawn = true
        } else {
            let decile = Int(fraction * 10)
            guard decile > lastDecile else { return }
            lastDecile = decile
            fputs(text + "\n", stderr)
        }
    }

    private func reportUnits(_ p: ProgressUpdate) {
        let perUnit = p.elapsedSeconds / Double(max(p.completed, 1))
        let line = String(format: "[%@] %@%@ %d/%d  %.2f s/%@  ETA %.0f s", bar(filled: width * p.completed / max(p.total, 1)), label.map { "\($0) " } ?? "", p.unit,
                          p.completed, p.total, perUnit, p.unit, perUnit * Double(p.total - p.completed))
        if interactive {
            guard p.elapsedSeconds - lastDraw >= 0.1 || p.isComplete else { return }
            lastDraw = p.elapsedSeconds
            // The finished line stays; `finish` then has nothing to close.
            fputs("\r" + line + (p.isComplete ? "\n" : ""), stderr)
            drawn = !p.isComplete
        } else {
            fputs(line + "\n", stderr)
        }
    }

    private func bar(filled: Int) -> String {
        let filled = min(max(filled, 0), width)
        return String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
    }

    func finish() {
        if drawn { fputs("\n", stderr) }
        drawn = false
    }
}
