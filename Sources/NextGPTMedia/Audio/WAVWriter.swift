import CSndfile
import Foundation

/// WAV files through libsndfile: 16-bit PCM (clipped to [−1, 1], scaled by 32767 and rounded,
/// as scipy / torchaudio convert) or 32-bit float (what scipy's `wavfile.write` of a float32
/// waveform gives, NExT-GPT's output). The file is written beside its destination and renamed
/// into place, so a failed write leaves nothing. Text goes into the RIFF `LIST/INFO` chunk
/// (`INAM` title, `ICMT` comment, `ISFT` software, to which libsndfile appends its own name).
public enum WAVWriter {
    public enum SampleFormat: Sendable {
        case pcm16
        case float32
    }

    /// The text chunks a WAV file holds.
    public struct Metadata: Sendable, Equatable {
        public var title: String?
        /// e.g. "prompt: …; seed: 42; steps: 50".
        public var comment: String?
        public var software: String?

        public init(title: String? = nil, comment: String? = nil, software: String? = nil) {
            self.title = title
            self.comment = comment
            self.software = software
        }
    }

    public struct WriteError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): cannot write WAV (\(reason))" }
    }

    /// Writes `samples` (interleaved frames of `channels` values) at `sampleRate` Hz to `path`.
    public static func write(_ samples: [Float], channels: Int = 1, sampleRate: Int, format: SampleFormat = .pcm16,
                             metadata: Metadata = Metadata(), to path: String) throws {
        func fail(_ reason: String) -> WriteError { WriteError(path: path, reason: reason) }
        guard channels >= 1, channels <= 1024 else { throw fail("\(channels) channels") }
        guard sampleRate >= 1, sampleRate <= Int(Int32.max) else { throw fail("sample rate \(sampleRate) Hz") }
        guard samples.count % channels == 0 else { throw fail("\(samples.count) samples do not make whole frames of \(channels) channels") }
        if let bad = samples.first(where: { !$0.isFinite }) { throw fail("the waveform holds \(bad)") }
        for (name, text) in [("title", metadata.title), ("comment", metadata.comment), ("software", metadata.software)] {
            if let text, text.contains("\0") { throw fail("the \(name) text contains NUL") }
        }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString).tmp").path
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = Int32(channels)
        info.format = Int32(SF_FORMAT_WAV) | Int32(format == .pcm16 ? SF_FORMAT_PCM_16 : SF_FORMAT_FLOAT)
        guard let file = sf_open(temporary, Int32(SFM_WRITE), &info) else {
            throw fail(String(cString: sf_strerror(nil)))
        }
        var closed = false
        defer {
            if !closed { sf_close(file) }
        }
        do {
            // strings first: WAV keeps them in a chunk libsndfile lays out with the header
            for (kind, text) in [(SF_STR_TITLE, metadata.title), (SF_STR_COMMENT, metadata.comment), (SF_STR_SOFTWARE, metadata.software)] {
                guard let text, !text.isEmpty else { continue }
                guard sf_set_string(file, Int32(kind), text) == 0 else { throw fail("text: \(String(cString: sf_strerror(file)))") }
            }
            let frames = samples.count / channels
            let written: sf_count_t
            switch format {
            case .float32:
                written = samples.withUnsafeBufferPointer { sf_writef_float(file, $0.baseAddress, sf_count_t(frames)) }
            case .pcm16:
                let pcm = samples.map { Int16((max(-1, min(1, $0)) * 32767).rounded()) }
                written = pcm.withUnsafeBufferPointer { sf_writef_short(file, $0.baseAddress, sf_count_t(frames)) }
            }
            guard written == sf_count_t(frames) else { throw fail(String(cString: sf_strerror(file))) }
            closed = true
            guard sf_close(file) == 0 else { throw fail("closing: \(String(cString: sf_strerror(nil)))") }
            guard rename(temporary, path) == 0 else { throw fail(String(cString: strerror(errno))) }
        } catch {
            if !closed { sf_close(file); closed = true }
            unlink(temporary)
            throw error
        }
    }
}
