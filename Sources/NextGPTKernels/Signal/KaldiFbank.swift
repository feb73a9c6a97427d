import Foundation

/// `torchaudio.compliance.kaldi.fbank` for the arguments ImageBind passes (`imagebind/data.py`
/// `waveform2melspec`): dither 0, Hann window (`torch.hann_window(N, periodic=False)`),
/// use_energy false (so htk_compat changes nothing), and every other Kaldi default — snip_edges,
/// remove_dc_offset, pre-emphasis 0.97 with the first sample replicated, the window zero-padded
/// to the next power of two, power spectrum, torchaudio's `get_mel_banks` (in float32, the
/// Nyquist bin weighted 0), and `log(max(energy, float32 eps))`. Channel 0 is used (Kaldi's
/// channel −1 is `max(channel, 0)`). Scalar Swift: per frame it is one 512-point FFT and 128
/// short dot products, far below the model's cost.
public struct KaldiFbank: Sendable {
    public let sampleFrequency: Double
    public let numMelBins: Int
    /// Samples per frame (`int(sample_frequency · frame_length · 0.001)`) and per shift.
    public let windowSize: Int
    public let windowShift: Int
    /// The FFT length: `windowSize` rounded up to a power of two.
    public let paddedWindowSize: Int
    public let preemphasis: Float
    /// [windowSize]: the Hann window.
    public let window: [Float]
    /// [numMelBins, paddedWindowSize / 2]: `get_mel_banks`'s triangles (float32).
    public let melBanks: [Float]
    private let fft: RealFFT

    public init(sampleFrequency: Double = 16000, frameLengthMs: Double = 25, frameShiftMs: Double = 10, numMelBins: Int = 128,
                lowFreq: Double = 20, highFreq: Double = 0, preemphasis: Double = 0.97) throws {
        windowSize = Int(sampleFrequency * frameLengthMs * 0.001)
        windowShift = Int(sampleFrequency * frameShiftMs * 0.001)
        guard windowSize >= 2, windowShift > 0, windowSize <= 1 << 16 else {
            throw SignalError("fbank: a \(frameLengthMs) ms window shifted by \(frameShiftMs) ms at \(sampleFrequency) Hz is not usable")
        }
        guard numMelBins > 3 else { throw SignalError("fbank: need more than 3 mel bins, got \(numMelBins)") }
        var padded = 1
        while padded < windowSize { padded *= 2 }
        paddedWindowSize = padded
        self.sampleFrequency = sampleFrequency
        self.numMelBins = numMelBins
        self.preemphasis = Float(preemphasis)
        fft = try RealFFT(count: padded)
        window = Self.hannWindow(windowSize)
        melBanks = try Self.melBanks(numBins: numMelBins, paddedWindowSize: padded, sampleFrequency: sampleFrequency,
                                     lowFreq: lowFreq, highFreq: highFreq)
    }

    /// `torch.hann_window(n, periodic=False)` in float32: `0.5 − 0.5 · cos(i · 2π/(n−1))`.
    public static func hannWindow(_ n: Int) -> [Float] {
        let step = Float(2 * Double.pi / Double(n - 1))
        return (0..<n).map { Float(0.5) - Float(0.5) * cos(Float($0) * step) }
    }

    static func melScale(_ f: Double) -> Double { 1127.0 * log(1.0 + f / 700.0) }

    /// torchaudio's `get_mel_banks` without VTLN: scalars in double as Python computes them,
    /// the tensors in float32.
    public static func melBanks(numBins: Int, paddedWindowSize: Int, sampleFrequency: Double, lowFreq: Double, highFreq: Double) throws -> [Float] {
        let numFFTBins = paddedWindowSize / 2
        let nyquist = 0.5 * sampleFrequency
        let high = highFreq <= 0 ? highFreq + nyquist : highFreq
        guard 0 <= lowFreq, lowFreq < nyquist, 0 < high, high <= nyquist, lowFreq < high else {
            throw SignalError("fbank: bad mel frequency range \(lowFreq)…\(high) Hz at Nyquist \(nyquist) Hz")
        }
        let binWidth = Float(sampleFrequency / Double(paddedWindowSize))
        let melLow = melScale(lowFreq), melHigh = melScale(high)
        let delta = Float((melHigh - melLow) / Double(numBins + 1)), low = Float(melLow)
        let mel = (0..<numFFTBins).map { i -> Float in Float(1127.0) * log(Float(1.0) + binWidth * Float(i) / Float(700.0)) }
        var banks = [Float](repeating: 0, count: numBins * numFFTBins)
        for b in 0..<numBins {
            let left = low + Float(b) * delta
            let center = low + (Float(b) + 1) * delta
            let right = low + (Float(b) + 2) * delta
            for i in 0..<numFFTBins {
                let up = (mel[i] - left) / (center - left)
                let down = (right - mel[i]) / (right - center)
                banks[b * numFFTBins + i] = max(0, min(up, down))
            }
        }
        return banks
    }

    /// Frames a waveform of `sampleCount` samples gives (snip_edges): 1 + (n − window) / shift.
    public func frameCount(_ sampleCount: Int) -> Int {
        sampleCount < windowSize ? 0 : 1 + (sampleCount - windowSize) / windowShift
    }

    /// Log mel energies [frames, numMelBins] of one channel. Fewer samples than one window is an
    /// error, as torchaudio's assertion.
    public func callAsFunction(_ samples: UnsafeBufferPointer<Float>) throws -> [Float] {
        guard samples.count >= windowSize else {
            throw SignalError("fbank: \(samples.count) samples are fewer than one \(windowSize)-sample window")
        }
        let frames = frameCount(samples.count), bins = numMelBins, fftBins = paddedWindowSize / 2
        var out = [Float](repeating: 0, count: frames * bins)
        var frame = [Float](repeating: 0, count: paddedWindowSize)
        var re = [Float](repeating: 0, count: paddedWindowSize), im = re
        var power = [Float](repeating: 0, count: fftBins)
        let floor = Float.ulpOfOne
        for f in 0..<frames {
            let x = samples.baseAddress! + f * windowShift
            frameSpectrum(x, frame: &frame, re: &re, im: &im, power: &power)
            melBanks.withUnsafeBufferPointer { banks in
                for b in 0..<bins {
                    let row = banks.baseAddress! + b * fftBins
                    var acc: Float = 0
                    for i in 0..<fftBins { acc += power[i] * row[i] }
                    out[f * bins + b] = log(max(acc, floor))
                }
            }
        }
        return out
    }

    /// One frame: DC removal, pre-emphasis, window, zero padding, FFT, |X|².
    private func frameSpectrum(_ x: UnsafePointer<Float>, frame: inout [Float], re: inout [Float], im: inout [Float], power: inout [Float]) {
        let n = windowSize
        var sum: Float = 0
        for i in 0..<n { sum += x[i] }
        let mean = sum / Float(n)
        var previous = x[0] - mean
        for i in 0..<n {
            let v = x[i] - mean
            frame[i] = (v - preemphasis * previous) * window[i]
            previous = v
        }
        for i in n..<paddedWindowSize { frame[i] = 0 }
        frame.withUnsafeBufferPointer { fp in
            re.withUnsafeMutableBufferPointer { r in
                im.withUnsafeMutableBufferPointer { m in fft.transform(fp.baseAddress!, re: r.baseAddress!, im: m.baseAddress!) }
            }
        }
        for i in 0..<(paddedWindowSize / 2) { power[i] = re[i] * re[i] + im[i] * im[i] }
    }
}
