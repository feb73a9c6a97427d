import Foundation
import NextGPTKernels

/// Decoded audio as `torchaudio.load` returns it: float32 samples laid out [channels, frames]
/// (every channel, none mixed), integer PCM scaled to [-1, 1) (int16 ÷ 2¹⁵, int24 ÷ 2²³, …).
public struct Waveform: Sendable, Equatable {
    public let sampleRate: Int
    public let channels: Int
    public let frames: Int
    /// channels · frames values, channel after channel.
    public var samples: [Float]

    public init(sampleRate: Int, channels: Int, samples: [Float]) throws {
        guard sampleRate > 0, sampleRate <= AudioLimits.maximumSampleRate else {
            throw AudioError.badWaveform("sample rate \(sampleRate) Hz is outside 1…\(AudioLimits.maximumSampleRate)")
        }
        guard channels > 0, channels <= AudioLimits.maximumChannels else {
            throw AudioError.badWaveform("\(channels) channels is outside 1…\(AudioLimits.maximumChannels)")
        }
        guard samples.count % channels == 0 else {
            throw AudioError.badWaveform("\(samples.count) samples do not split into \(channels) channels")
        }
        self.sampleRate = sampleRate
        self.channels = channels
        self.frames = samples.count / channels
        self.samples = samples
    }

    /// One channel's samples.
    public func channel(_ index: Int) -> ArraySlice<Float> {
        samples[(index * frames)..<((index + 1) * frames)]
    }

    /// `duration` in seconds as data.py computes it: `waveform.size(1) / sample_rate` (Python's
    /// true division).
    public var duration: Double { Double(frames) / Double(sampleRate) }

    /// The waveform as a tensor [channels, frames].
    public var tensor: Tensor { Tensor(shape: [channels, frames], values: samples) }

    /// A waveform from a tensor [channels, frames] (a bundle's `waveform`).
    public init(tensor: Tensor, sampleRate: Int) throws {
        guard tensor.rank == 2, tensor.shape[0] > 0 else {
            throw AudioError.badWaveform("expected a waveform [channels, samples], got \(tensor.shape)")
        }
        try self.init(sampleRate: sampleRate, channels: tensor.shape[0], samples: tensor.values)
    }
}

/// What a reader accepts before it allocates anything.
public enum AudioLimits {
    public static let maximumChannels = 64
    public static let maximumSampleRate = 1_000_000
    /// 2²⁸ float samples (1 GiB): over an hour of 48 kHz stereo.
    public static let maximumSamples = 1 << 28
}

public enum AudioError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case badWaveform(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read (\(reason))"
        case .corrupt(let path, let reason): return "\(path): not a readable audio file (\(reason))"
        case .badWaveform(let m): return "waveform: \(m)"
        }
    }
}
