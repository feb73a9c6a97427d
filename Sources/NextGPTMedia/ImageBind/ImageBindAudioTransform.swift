import Foundation
import NextGPTKernels

/// `imagebind/data.py` `load_and_transform_audio_data` after `torchaudio.load`, to the letter:
/// resample to 16 kHz when needed; clips from `ConstantClipsPerVideoSampler(2, 3)` on
/// `samples / 16000`; each clip the slice `[:, int(start·sr) : int(end·sr)]` (Python's slice
/// clamping) of the one shared waveform; `waveform2melspec`: `waveform -= waveform.mean()` IN
/// PLACE (the mean of every channel of the slice; clips overlap, so a later clip sees the earlier
/// clips' subtractions), Kaldi fbank of channel 0, transpose to [128, frames], zero-pad or crop
/// to 204 frames; `Normalize(-4.268, 9.138)`.
public enum ImageBindAudioTransform {
    public static let sampleRate = 16000
    public static let numMelBins = 128
    public static let targetLength = 204
    public static let clipDuration = 2
    public static let clipsPerVideo = 3
    public static let mean: Float = -4.268
    public static let std: Float = 9.138

    /// The mel clips of one waveform: [1, clips, 1, 128, 204] (clips from the sampler; 3 unless
    /// the rule stops early).
    public static func mel(_ waveform: Waveform, clipSampler rule: ClipSamplerRule = .pytorchvideo015,
                           resampling: AudioResampling = .torchaudio) throws -> Tensor {
        let audio = try waveform.resampled(to: sampleRate, with: resampling)
        let sampler = ConstantClipsPerVideoSampler(clipDuration: clipDuration, clipsPerVideo: clipsPerVideo, rule: rule)
        let clips = sampler.clipTimepoints(duration: Double(audio.frames) / Double(sampleRate))
        let fbank = try KaldiFbank(sampleFrequency: Double(sampleRate), numMelBins: numMelBins)
        let frames = audio.frames, channels = audio.channels, plane = numMelBins * targetLength
        var shared = audio.samples
        var out = [Float](repeating: 0, count: clips.count * plane)
        for (index, clip) in clips.enumerated() {
            let start = min(clip.start.floorTimes(sampleRate), frames)
            let end = max(start, min(clip.end.floorTimes(sampleRate), frames))
            guard end - start >= fbank.windowSize else {
                throw AudioError.badWaveform("clip \(index) spans samples \(start)..<\(end) of \(frames): fewer than the \(fbank.windowSize) samples of one fbank window (torchaudio's fbank refuses it too)")
            }
            subtractMean(&shared, channels: channels, frames: frames, range: start..<end)
            let energies = try shared.withUnsafeBufferPointer { all in
                try fbank(UnsafeBufferPointer(rebasing: all[start..<end]))
            }
            let count = fbank.frameCount(end - start)
            // [frames, mel] → [mel, 204], zero-padded or cropped, then normalised (padding too).
            let padded = (0 - mean) / std
            for m in 0..<numMelBins {
                for t in 0..<targetLength {
                    out[index * plane + m * targetLength + t] = t < count ? (energies[t * numMelBins + m] - mean) / std : padded
                }
            }
        }
        return Tensor(shape: [1, clips.count, 1, numMelBins, targetLength], values: out)
    }

    /// `waveform -= waveform.mean()` on the view `[:, range]` of the [channels, frames] samples:
    /// one float32 mean over every channel (summed in double, then rounded as torch's float32
    /// result), subtracted in float32.
    static func subtractMean(_ samples: inout [Float], channels: Int, frames: Int, range: Range<Int>) {
        var sum = 0.0
        for c in 0..<channels { for i in range { sum += Double(samples[c * frames + i]) } }
        let mean = Float(sum / Double(channels * range.count))
        for c in 0..<channels { for i in range { samples[c * frames + i] -= mean } }
    }
}
