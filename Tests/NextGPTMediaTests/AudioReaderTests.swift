import Foundation
import NextGPTFormats
import NextGPTMedia
import NextGPTTestSupport
import XCTest

/// The audio readers against `torchaudio.load` (soundfile) of the same files: exact for PCM,
/// within MP3 decoders' differences for MP3 (libavcodec here, libsndfile's mpg123 there).
final class AudioReaderTests: XCTestCase {
    static let media = "\(TestSupport.fixtures)/media"

    private func reference(_ file: String, _ name: String) throws -> [Float] {
        try XCTUnwrap(try SafetensorsFile.read(path: "\(Self.media)/\(file)")[name]).readFloats()
    }

    func testLosslessFilesMatchTorchaudioLoadExactly() throws {
        for (name, rate, channels, scale) in [("tone16k-mono.wav", 16000, 1, Float(32768)), ("tone44k-stereo.wav", 44100, 2, 32768),
                                               ("tone.flac", 22050, 1, 8_388_608)] {
            let waveform = try AudioFile.read(path: "\(Self.media)/\(name)")
            XCTAssertEqual(waveform.sampleRate, rate, name)
            XCTAssertEqual(waveform.channels, channels, name)
            let expect = try reference("reference-samples.safetensors", name).map { $0 / scale }
            XCTAssertEqual(waveform.samples.count, expect.count, name)
            XCTAssertEqual(waveform.samples, expect, "\(name): every sample as torchaudio.load gives it")
        }
    }

    func testMP3MatchesTorchaudioLoad() throws {
        let waveform = try AudioFile.read(path: "\(Self.media)/tone44k.mp3")
        let expect = try reference("reference-samples-mp3.safetensors", "tone44k.mp3")
        XCTAssertEqual(waveform.sampleRate, 44100)
        XCTAssertEqual(waveform.channels, 1)
        XCTAssertEqual(waveform.frames, expect.count, "gapless: encoder delay and padding trimmed as mpg123 does")
        let error = relativeL2(waveform.samples, expect)
        print("tone44k.mp3: rel L2 \(error) against torchaudio.load (mpg123, stored f16)")
        XCTAssertLessThanOrEqual(error, 1e-3)
    }

    func testAACInMP4IsDecodedAtItsOwnRateAndLength() throws {
        // No torchaudio.load reference (soundfile cannot read MP4). libavcodec drops the encoder's
        // 1024 priming samples (the ffmpeg 5.1 command gives the same 22 528 frames: the last
        // frame's padding stays), so the decoded 440 Hz tone lines up with the one encoded.
        let waveform = try AudioFile.read(path: "\(Self.media)/tone.m4a")
        XCTAssertEqual(waveform.sampleRate, 22050)
        XCTAssertEqual(waveform.channels, 1)
        XCTAssertTrue((22050...(22050 + 1024)).contains(waveform.frames), "\(waveform.frames) frames")
        func error(lag: Int) -> Double {
            let tone = (2048..<20000).map { Float(0.3 * sin(2 * Double.pi * 440 * Double($0) / 22050)) }
            return relativeL2(Array(waveform.samples[(2048 + lag)..<(20000 + lag)]), tone)
        }
        print("tone.m4a: rel L2 \(error(lag: 0)) against the tone it encodes (32 kb/s AAC)")
        XCTAssertLessThanOrEqual(error(lag: 0), 0.15)
        XCTAssertLessThan(error(lag: 0), min(error(lag: -1), error(lag: 1)), "no priming offset")
    }

    func testBadFilesAreRefusedNamingTheFile() throws {
        let cases = [("truncated.wav", "truncated"), ("not-audio.wav", "not a readable audio file"), ("truncated.mp3", "truncated"),
                     ("missing.wav", "no such file")]
        for (name, message) in cases {
            let path = "\(Self.media)/\(name)"
            XCTAssertThrowsError(try AudioFile.read(path: path), name) {
                print("refused: \($0)")
                XCTAssertTrue("\($0)".contains(path), "\($0)")
                XCTAssertTrue("\($0)".contains(message), "\($0)")
            }
        }
        XCTAssertThrowsError(try AudioFile.read(path: Self.media)) { XCTAssertTrue("\($0)".contains("a folder"), "\($0)") }
    }

    func testEmptyAndAbsurdHeadersAreRefused() throws {
        let folder = try scratchDirectory("audio")
        // A WAV header with an empty data chunk, and one claiming 1000 channels.
        func wav(channels: UInt16, rate: UInt32, dataBytes: UInt32, payload: Int) -> Data {
            var d = Data("RIFF".utf8)
            func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
            func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
            u32(36 + dataBytes); d.append(contentsOf: Array("WAVEfmt ".utf8)); u32(16); u16(1); u16(channels); u32(rate)
            u32(rate &* UInt32(channels) &* 2); u16(channels * 2); u16(16); d.append(contentsOf: Array("data".utf8)); u32(dataBytes)
            d.append(Data(count: payload))
            return d
        }
        let cases: [(String, Data, String)] = [
            ("empty.wav", wav(channels: 1, rate: 16000, dataBytes: 0, payload: 0), "empty.wav"),
            ("channels.wav", wav(channels: 1000, rate: 16000, dataBytes: 4000, payload: 4000), "channels.wav"),
            // A data chunk claiming 4 GB (a billion frames) over 1 KB of samples: refused before
            // anything is allocated for it.
            ("billions.wav", wav(channels: 2, rate: 16000, dataBytes: 4_000_000_000, payload: 1024), "truncated: the data chunk claims 4000000000 bytes"),
            ("rate.wav", wav(channels: 1, rate: 4_000_000_000, dataBytes: 4000, payload: 4000), "rate.wav"),
        ]
        for (name, data, message) in cases {
            let path = "\(folder)/\(name)"
            try data.write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try AudioFile.read(path: path), name) {
                print("refused: \($0)")
                XCTAssertTrue("\($0)".contains(message), "\($0)")
            }
        }
    }

    func testSwresampleIsCloseToTorchaudioResample() throws {
        let waveform = try AudioFile.read(path: "\(Self.media)/tone44k-stereo.wav")
        let exact = try waveform.resampled(to: 16000)
        let fast = try waveform.resampled(to: 16000, with: .swresample)
        XCTAssertEqual(exact.frames, Int((Double(waveform.frames) * 16000 / 44100).rounded(.up)))
        XCTAssertEqual(fast.frames, exact.frames)
        let error = relativeL2(fast.samples, exact.samples)
        print("tone44k-stereo.wav → 16 kHz: libswresample vs torchaudio resample rel L2 \(error)")
        XCTAssertLessThanOrEqual(error, 0.05)
        XCTAssertEqual(try waveform.resampled(to: 44100), waveform)
    }
}
