import CFFmpeg
import Foundation
import NextGPTKernels

/// How a waveform is brought to another sample rate.
public enum AudioResampling: String, Sendable, CaseIterable {
    /// `torchaudio.functional.resample` with its defaults (sinc_interp_hann, lowpass_filter_width
    /// 6, rolloff 0.99), reproduced exactly: what data.py calls. The default.
    case torchaudio
    /// libswresample's default resampler: faster, close to torchaudio's but not equal to it.
    case swresample
}

extension Waveform {
    /// The waveform at `rate` Hz (itself when it already is), every channel resampled alone.
    public func resampled(to rate: Int, with method: AudioResampling = .torchaudio) throws -> Waveform {
        guard rate != sampleRate else { return self }
        guard rate > 0, rate <= AudioLimits.maximumSampleRate else {
            throw AudioError.badWaveform("cannot resample to \(rate) Hz")
        }
        switch method {
        case .torchaudio:
            let resampler: SincResampler
            do { resampler = try SincResampler(from: sampleRate, to: rate) } catch let error as SignalError {
                throw AudioError.badWaveform(error.description)
            }
            guard resampler.outputLength(frames) <= AudioLimits.maximumSamples / channels else {
                throw AudioError.badWaveform("\(frames) frames at \(sampleRate) Hz would exceed \(AudioLimits.maximumSamples) samples at \(rate) Hz")
            }
            var out: [Float] = []
            samples.withUnsafeBufferPointer { all in
                for c in 0..<channels {
                    out += resampler(UnsafeBufferPointer(rebasing: all[(c * frames)..<((c + 1) * frames)]))
                }
            }
            return try Waveform(sampleRate: rate, channels: channels, samples: out)
        case .swresample:
            return try SwresampleResampler.resample(self, to: rate)
        }
    }
}

/// libswresample with its default filter, planar float in and out, one call plus a flush; the
/// output is cut or zero-padded to torchaudio's length `ceil(new · n / orig)` so the two agree
/// in shape.
enum SwresampleResampler {
    static func resample(_ waveform: Waveform, to rate: Int) throws -> Waveform {
        let channels = waveform.channels, frames = waveform.frames
        var layout = AVChannelLayout()
        av_channel_layout_default(&layout, Int32(channels))
        defer { av_channel_layout_uninit(&layout) }
        var outLayout = layout
        var swr: OpaquePointer?
        guard swr_alloc_set_opts2(&swr, &outLayout, AV_SAMPLE_FMT_FLTP, Int32(rate), &layout, AV_SAMPLE_FMT_FLTP,
                                  Int32(waveform.sampleRate), 0, nil) >= 0, swr != nil, swr_init(swr) >= 0
        else { throw AudioError.badWaveform("libswresample cannot resample \(waveform.sampleRate) → \(rate) Hz") }
        defer { swr_free(&swr) }
        let target = Int((Double(rate) * Double(frames) / Double(waveform.sampleRate)).rounded(.up))
        let capacity = target + 4096
        let input = UnsafeMutablePointer<Float>.allocate(capacity: max(waveform.samples.count, 1))
        let output = UnsafeMutablePointer<Float>.allocate(capacity: channels * capacity)
        defer {
            input.deallocate()
            output.deallocate()
        }
        _ = UnsafeMutableBufferPointer(start: input, count: waveform.samples.count).initialize(from: waveform.samples)
        output.initialize(repeating: 0, count: channels * capacity)
        let inputs = UnsafeMutablePointer<UnsafePointer<UInt8>?>.allocate(capacity: channels)
        let outputs = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: channels)
        defer {
            inputs.deallocate()
            outputs.deallocate()
        }
        for c in 0..<channels { inputs[c] = UnsafePointer(UnsafeRawPointer(input + c * frames).assumingMemoryBound(to: UInt8.self)) }
        var produced: Int32 = 0
        for flushing in [false, true] {
            for c in 0..<channels {
                outputs[c] = UnsafeMutableRawPointer(output + c * capacity + Int(produced)).assumingMemoryBound(to: UInt8.self)
            }
            let got: Int32 = swr_convert(swr, outputs, Int32(capacity) - produced, flushing ? nil : inputs, flushing ? 0 : Int32(frames))
            guard got >= 0 else { produced = got; break }
            produced += got
        }
        guard produced >= 0 else { throw AudioError.badWaveform("libswresample failed (\(FFmpegStatus.message(produced)))") }
        var samples = [Float](repeating: 0, count: channels * target)
        for c in 0..<channels {
            for i in 0..<min(target, Int(produced)) { samples[c * target + i] = output[c * capacity + i] }
        }
        return try Waveform(sampleRate: rate, channels: channels, samples: samples)
    }
}
