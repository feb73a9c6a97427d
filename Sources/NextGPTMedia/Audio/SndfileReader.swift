import CSndfile
import Foundation

/// WAV, FLAC, OGG and the other formats libsndfile reads, decoded with `sf_readf_float` (its
/// normalised integer → float scaling is what `soundfile`, and so `torchaudio.load`, uses).
/// Frames are read in chunks, so a header claiming billions of frames allocates nothing.
enum SndfileReader {
    enum Outcome {
        case waveform(Waveform)
        /// libsndfile does not know the format.
        case notHandled(reason: String)
        /// libsndfile reads it, but FFmpeg is the reader for it (MPEG audio).
        case handOff
    }

    static let chunkFrames = 1 << 16

    static func read(path: String) throws -> Outcome {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            return .notHandled(reason: String(cString: sf_strerror(nil)))
        }
        defer { sf_close(file) }
        if Int(info.format) & Int(SF_FORMAT_TYPEMASK) == Int(SF_FORMAT_MPEG) {
            return .handOff
        }
        let channels = Int(info.channels), rate = Int(info.samplerate), declared = Int(info.frames)
        guard channels > 0, channels <= AudioLimits.maximumChannels else {
            throw AudioError.corrupt(path: path, reason: "\(channels) channels (at most \(AudioLimits.maximumChannels) are accepted)")
        }
        guard rate > 0, rate <= AudioLimits.maximumSampleRate else {
            throw AudioError.corrupt(path: path, reason: "sample rate \(rate) Hz (1…\(AudioLimits.maximumSampleRate) Hz are accepted)")
        }
        guard declared > 0 else { throw AudioError.corrupt(path: path, reason: "no samples") }
        guard declared <= AudioLimits.maximumSamples / channels else {
            throw AudioError.corrupt(path: path, reason: "the header claims \(declared) frames × \(channels) channels, more than the \(AudioLimits.maximumSamples) samples accepted")
        }
        if let (claimed, present) = truncatedDataChunk(file) {
            throw AudioError.corrupt(path: path, reason: "truncated: the data chunk claims \(claimed) bytes, the file holds \(present)")
        }

        var interleaved: [Float] = []
        var chunk = [Float](repeating: 0, count: chunkFrames * channels)
        while true {
            let got = Int(chunk.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(chunkFrames)) })
            if got <= 0 { break }
            guard interleaved.count / channels + got <= declared else {
                throw AudioError.corrupt(path: path, reason: "more frames than the \(declared) the header declares")
            }
            interleaved.append(contentsOf: chunk[0..<(got * channels)])
        }
        let status = sf_error(file)
        guard status == 0 else { throw AudioError.corrupt(path: path, reason: String(cString: sf_error_number(status))) }
        let frames = interleaved.count / channels
        guard frames == declared else {
            throw AudioError.corrupt(path: path, reason: "truncated: \(frames) of the \(declared) frames the header declares could be decoded")
        }
        var planar = [Float](repeating: 0, count: interleaved.count)
        for f in 0..<frames { for c in 0..<channels { planar[c * frames + f] = interleaved[f * channels + c] } }
        return .waveform(try Waveform(sampleRate: rate, channels: channels, samples: planar))
    }

    /// libsndfile shortens a WAV/AIFF data chunk that runs past the end of the file and notes it
    /// in its log as `data : CLAIMED (should be PRESENT)`; a streamed file's placeholder size
    /// (0 or 0xFFFFFFFF) is not a truncation.
    private static func truncatedDataChunk(_ file: OpaquePointer) -> (Int, Int)? {
        var log = [CChar](repeating: 0, count: 8192)
        sf_command(file, Int32(SFC_GET_LOG_INFO), &log, Int32(log.count))
        let text = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("data") || line.hasPrefix("SSND") {
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            guard line.contains("should be"), numbers.count >= 2 else { continue }
            let (claimed, present) = (numbers[numbers.count - 2], numbers[numbers.count - 1])
            if claimed > present, claimed != 0, claimed < 0xFFFF_F000 { return (claimed, present) }
        }
        return nil
    }
}
