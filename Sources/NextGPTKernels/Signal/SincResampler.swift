import Foundation

/// `torchaudio.functional.resample` (sinc_interp_hann): a gcd-reduced polyphase windowed-sinc
/// filter, computed as torchaudio computes it for a float32 waveform. The kernel is built in
/// float32 (torchaudio passes the waveform's dtype to `_get_sinc_resample_kernel`), then applied
/// as its strided `conv1d` over the waveform zero-padded by `width` on the left and
/// `width + orig` on the right, and cut to `ceil(new · length / orig)` samples.
public struct SincResampler: Sendable {
    public let originalRate: Int
    public let newRate: Int
    /// The rates divided by their gcd: every `orig` input samples give `new` output samples.
    public let orig: Int
    public let new: Int
    public let width: Int
    /// [new, 2·width + orig]: row j is the filter of output phase j.
    public let kernel: [Float]
    public var taps: Int { 2 * width + orig }

    public init(from originalRate: Int, to newRate: Int, lowpassFilterWidth: Int = 6, rolloff: Double = 0.99) throws {
        guard originalRate > 0, newRate > 0 else {
            throw SignalError("resample: rates must be positive, got \(originalRate) → \(newRate)")
        }
        guard lowpassFilterWidth > 0 else { throw SignalError("resample: lowpass filter width must be positive") }
        let g = Self.gcd(originalRate, newRate)
        let orig = originalRate / g, new = newRate / g
        let baseFreq = Double(min(orig, new)) * rolloff
        let width = Int((Double(lowpassFilterWidth * orig) / baseFreq).rounded(.up))
        let taps = 2 * width + orig
        guard new <= 1 << 16, taps <= 1 << 18 else {
            throw SignalError("resample: \(originalRate) → \(newRate) Hz reduces to \(orig) → \(new); that filter bank is too large")
        }
        self.originalRate = originalRate
        self.newRate = newRate
        self.orig = orig
        self.new = new
        self.width = width
        // Every step in float32 with the Python scalars rounded to float32, as PyTorch's tensor ⊗
        // scalar ops do.
        let lw = Float(lowpassFilterWidth), base = Float(baseFreq), pi = Float(Double.pi)
        let scale = Float(baseFreq / Double(orig))
        var kernel = [Float](repeating: 0, count: new * taps)
        for j in 0..<new {
            let phase = Float(-j) / Float(new)
            for k in 0..<taps {
                let idx = Float(k - width) / Float(orig)
                var t = (phase + idx) * base
                t = min(max(t, -lw), lw)
                let c = cos(t * pi / lw / 2)
                let window = c * c
                let tp = t * pi
                let sinc: Float = tp == 0 ? 1 : sin(tp) / tp
                kernel[j * taps + k] = sinc * (window * scale)
            }
        }
        self.kernel = kernel
    }

    /// `ceil(new · length / orig)` (Python's true division, then `torch.ceil`).
    public func outputLength(_ inputLength: Int) -> Int {
        Int((Double(new * inputLength) / Double(orig)).rounded(.up))
    }

    /// One channel resampled.
    public func callAsFunction(_ input: UnsafeBufferPointer<Float>) -> [Float] {
        let length = input.count, outLength = outputLength(length)
        var out = [Float](repeating: 0, count: outLength)
        guard outLength > 0 else { return out }
        let taps = self.taps, width = self.width, orig = self.orig, new = self.new
        kernel.withUnsafeBufferPointer { kp in
            out.withUnsafeMutableBufferPointer { op in
                for n in 0..<outLength {
                    let block = n / new, phase = n % new
                    // Output block i reads padded[i·orig ..< i·orig + taps], padded[p] = x[p − width].
                    let first = block * orig - width
                    let lo = max(0, -first), hi = min(taps, length - first)
                    var acc: Float = 0
                    if lo < hi {
                        let row = kp.baseAddress! + phase * taps
                        let x = input.baseAddress! + first
                        for k in lo..<hi { acc += row[k] * x[k] }
                    }
                    op[n] = acc
                }
            }
        }
        return out
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}

/// A signal kernel given arguments it cannot work with.
public struct SignalError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
