import CSndfile
import Foundation
import NextGPTMedia
import NextGPTTestSupport
import XCTest

/// WAV files written through libsndfile and read back with it: rate, frames, channels, values,
/// text chunks; failures leave nothing behind and name the file.
final class WAVWriterTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("wav")

    struct ReadBack {
        var info: SF_INFO
        var samples: [Float]
        var title: String?
        var comment: String?
        var software: String?
    }

    func read(_ path: String) throws -> ReadBack {
        var info = SF_INFO()
        let file = try XCTUnwrap(sf_open(path, Int32(SFM_READ), &info), String(cString: sf_strerror(nil)))
        defer { sf_close(file) }
        var samples = [Float](repeating: 0, count: Int(info.frames) * Int(info.channels))
        let read = samples.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, info.frames) }
        XCTAssertEqual(read, info.frames)
        func text(_ kind: Int32) -> String? { sf_get_string(file, kind).map { String(cString: $0) } }
        return ReadBack(info: info, samples: samples, title: text(Int32(SF_STR_TITLE)), comment: text(Int32(SF_STR_COMMENT)),
                        software: text(Int32(SF_STR_SOFTWARE)))
    }

    /// A 440 Hz tone at 16 kHz with a few values outside [−1, 1] (PCM clips them).
    static let tone: [Float] = (0..<16001).map { (i: Int) -> Float in
        if i % 4000 == 17 { return i % 8000 == 17 ? 1.5 : -1.5 }
        let phase: Double = 2 * Double.pi * 440 * Double(i) / 16000
        return 0.8 * Float(sin(phase))
    }

    func testFloatWAVKeepsValuesRateLengthAndText() throws {
        let path = "\(Self.folder)/tone-float.wav"
        let metadata = WAVWriter.Metadata(title: "A hammer is hitting a wooden surface",
                                          comment: "prompt: A hammer is hitting a wooden surface; seed: 42; steps: 50", software: "nextgpt")
        try WAVWriter.write(Self.tone, sampleRate: 16000, format: .float32, metadata: metadata, to: path)
        let back = try read(path)
        XCTAssertEqual(back.info.samplerate, 16000)
        XCTAssertEqual(back.info.channels, 1)
        XCTAssertEqual(back.info.frames, 16001)
        XCTAssertEqual(back.info.format, Int32(SF_FORMAT_WAV) | Int32(SF_FORMAT_FLOAT))
        XCTAssertEqual(back.samples, Self.tone)
        XCTAssertEqual(back.title, metadata.title)
        XCTAssertEqual(back.comment, metadata.comment)
        XCTAssertTrue(back.software?.hasPrefix("nextgpt") ?? false, "\(back.software ?? "nil")")  // libsndfile appends its name
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: Self.folder).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [])
    }

    func testPCM16WAVIsClippedAndQuantized() throws {
        let path = "\(Self.folder)/tone-pcm16.wav"
        try WAVWriter.write(Self.tone, sampleRate: 16000, metadata: .init(comment: "seed: 1"), to: path)
        let back = try read(path)
        XCTAssertEqual(back.info.samplerate, 16000)
        XCTAssertEqual(back.info.frames, 16001)
        XCTAssertEqual(back.info.format, Int32(SF_FORMAT_WAV) | Int32(SF_FORMAT_PCM_16))
        XCTAssertEqual(back.comment, "seed: 1")
        XCTAssertEqual(try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) > 16001 * 2, true)
        for (written, read) in zip(Self.tone, back.samples) {
            // written as round(clip(x) · 32767); libsndfile reads 16-bit values back divided by 0x8000
            let expected = Float(Int((max(-1, min(1, written)) * 32767).rounded())) / 32768
            XCTAssertEqual(read, expected, accuracy: 1e-6)
        }
        XCTAssertEqual(back.samples.max()!, 32767 / 32768, accuracy: 1e-7)
    }

    func testStereoFramesInterleaved() throws {
        let path = "\(Self.folder)/stereo.wav"
        let samples: [Float] = [0.1, -0.1, 0.2, -0.2, 0.3, -0.3]
        try WAVWriter.write(samples, channels: 2, sampleRate: 22050, format: .float32, to: path)
        let back = try read(path)
        XCTAssertEqual(back.info.channels, 2)
        XCTAssertEqual(back.info.frames, 3)
        XCTAssertEqual(back.info.samplerate, 22050)
        XCTAssertEqual(back.samples, samples)
    }

    func testUnwritablePathIsAClearErrorAndLeavesNothing() throws {
        let path = "\(Self.folder)/no-such-folder/out.wav"
        XCTAssertThrowsError(try WAVWriter.write([0, 0.5], sampleRate: 16000, to: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path): cannot write WAV ("), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        // an existing destination is replaced only by a whole new file
        let existing = "\(Self.folder)/keep.wav"
        try WAVWriter.write([0.25], sampleRate: 8000, format: .float32, to: existing)
        XCTAssertThrowsError(try WAVWriter.write([.nan], sampleRate: 8000, to: existing)) {
            XCTAssertTrue("\($0)".contains("cannot write WAV (the waveform holds nan)"), "\($0)")
        }
        XCTAssertEqual(try read(existing).samples, [0.25])
        XCTAssertThrowsError(try WAVWriter.write([0, 1, 2], channels: 2, sampleRate: 8000, to: existing)) {
            XCTAssertTrue("\($0)".contains("3 samples do not make whole frames of 2 channels"), "\($0)")
        }
    }
}
