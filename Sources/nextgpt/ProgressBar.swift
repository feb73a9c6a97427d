#if canImport(Glibc)
import Glibc
#endif
import NextGPTConvert

/// One line on stderr, redrawn at most ten times a second: bar, percent, bytes, MB/s, ETA.
/// When stderr is not a terminal it prints a plain line every 10% instead.
final class ProgressBar {
    private let label: String
    private let interactive = isatty(2) != 0
    private var lastDraw = -1.0
    private var lastDecile = -1
    private var drawn = false

    init(label: String) { self.label = label }

    func update(_ p: ConversionProgress) {
        let fraction = p.bytesTotal > 0 ? Double(p.bytesDone) / Double(p.bytesTotal) : 1
        let rate = p.seconds > 0 ? Double(p.bytesDone) / p.seconds / 1e6 : 0
        let eta = rate > 0 ? Double(p.bytesTotal - p.bytesDone) / 1e6 / rate : 0
        let text = String(format: "%@ %3.0f%% %7.1f/%.1f MB %6.0f MB/s ETA %4.0fs  tensor %d/%d",
                          label, fraction * 100, Double(p.bytesDone) / 1e6, Double(p.bytesTotal) / 1e6, rate, eta,
                          min(p.tensorIndex + 1, p.tensorCount), p.tensorCount)
        if interactive {
            guard p.seconds - lastDraw >= 0.1 || p.bytesDone == p.bytesTotal else { return }
            lastDraw = p.seconds
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
            fputs("\r[\(bar)] \(text)\u{1B}[K", stderr)
            drawn = true
        } else {
            let decile = Int(fraction * 10)
            guard decile > lastDecile else { return }
            lastDecile = decile
            fputs(text + "\n", stderr)
        }
    }

    func finish() {
        if drawn { fputs("\n", stderr) }
        drawn = false
    }
}
