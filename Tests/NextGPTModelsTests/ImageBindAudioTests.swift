import Foundation
import NextGPTFormats
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia
import NextGPTSessions
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// ImageBind's audio pre-processing (`load_and_transform_audio_data`) against imagebind/data.py,
/// pytorchvideo and torchaudio, bundles by tools/references/bundle_imagebind_audio.py.
final class ImageBindAudioPreprocessTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    /// `waveform -= waveform.mean()` is in place on the shared waveform: with a fresh copy per
    /// clip instead, the stereo probe (channel 1 carries a DC offset, clips overlap) moves by rel L2
    /// 1.4e-2, the 5 s and 3.37 s ones by 1.4e-4 and 1.6e-4 (measured in PyTorch), all over the bar.
    func testBundlesMatchDataPyUnderBothClipSamplers() throws {
        var probes: [String] = []
        for name in ["mono5s", "stereo", "44k", "short", "odd", "long", "long-main"] {
            let report = try ModelsTestSupport.verify(bundle: "imagebind/preprocess-audio-\(name)", in: Self.folder)
            for result in report.results {
                probes.append(result.probe.name)
                for output in result.outputs {
                    print("preprocess-audio-\(name) \(result.probe.name).\(output.output): rel L2 \(output.relL2), max abs \(output.maxAbs)")
                    XCTAssertLessThanOrEqual(output.relL2, 1e-4, "\(result.probe.name).\(output.output)")
                }
            }
        }
        XCTAssertEqual(Set(probes), ["mono16k_5s", "mono16k_5s_main", "stereo16k_2.6s", "stereo44k_2.1s", "mono16k_1.3s", "mono16k_2s_main",
                                     "mono16k_3.37s", "mono16k_3.37s_main", "mono16k_11s", "mono16k_11s_main"])
    }

    func testClipCountsAndShapes() throws {
        // 5 s at 16 kHz: three overlapping 2 s clips of 198 frames each, padded to 204.
        let tone = (0..<80000).map { Float(sin(Double($0) * 0.05) * 0.3) }
        let waveform = try Waveform(sampleRate: 16000, channels: 1, samples: tone)
        let mel = try ImageBindAudioTransform.mel(waveform)
        XCTAssertEqual(mel.shape, [1, 3, 1, 128, 204])
        let padding = (0 - ImageBindAudioTransform.mean) / ImageBindAudioTransform.std
        XCTAssertEqual(mel.values[203], padding, "frames 198…203 are the normalised zero padding")
        XCTAssertNotEqual(mel.values[197], padding)
    }

    func testClipsShorterThanOneWindowAreRefused() throws {
        // 0.02 s: every clip is 320 samples, fewer than the 400 of one fbank window; torchaudio's
        // fbank asserts on it.
        let waveform = try Waveform(sampleRate: 16000, channels: 1, samples: [Float](repeating: 0.1, count: 320))
        XCTAssertThrowsError(try ImageBindAudioTransform.mel(waveform)) {
            XCTAssertTrue("\($0)".contains("fewer than the 400 samples of one fbank window"), "\($0)")
        }
        XCTAssertThrowsError(try Waveform(tensor: Tensor(zeros: [3]), sampleRate: 16000)) {
            XCTAssertTrue("\($0)".contains("expected a waveform [channels, samples]"), "\($0)")
        }
        XCTAssertThrowsError(try Waveform(sampleRate: 0, channels: 1, samples: [0]))
    }
}

/// An audio file → its ImageBind embedding in one call, against load_and_transform_audio_data
/// then the PyTorch model on the same file.
final class ImageBindAudioEmbedderTests: XCTestCase {
    static let media = "\(TestSupport.fixtures)/media"

    func testWavFileEmbeddingMatchesPyTorch() throws {
        let model = try ImageBindModel(try ImageBindTests.container("f32"), component: "imagebind")
        let reference = try SafetensorsFile.read(path: "\(TestSupport.bundles)/imagebind/tone16k-mono-embedding.safetensors")
        let expect = try XCTUnwrap(reference["embedding"]).readFloats()
        let expectMel = try XCTUnwrap(reference["mel"]).readFloats()
        let path = "\(Self.media)/tone16k-mono.wav"
        let mel = try ImageBindAudioEmbedder.mel(path: path)
        XCTAssertEqual(mel.shape, [1, 3, 1, 128, 204])
        let melError = relativeL2(mel.values, expectMel)
        let ours = try ImageBindAudioEmbedder(model: model).embed(paths: [path], context: .default)
        XCTAssertEqual(ours.shape, [1, model.config.outEmbedDim])
        let error = relativeL2(ours.values, expect)
        print("tone16k-mono.wav: mel rel L2 \(melError), embedding rel L2 \(error)")
        XCTAssertLessThanOrEqual(melError, 1e-4)
        XCTAssertLessThanOrEqual(error, 1e-4)
        let norm = ours.values.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        // The mean of three unit clip embeddings (not re-normalised): at most 1, and no ×20.
        XCTAssertLessThanOrEqual(norm, 1 + 1e-6)
        XCTAssertGreaterThan(norm, 0.9)
        let upstream = try ImageBindAudioEmbedder(model: model, audioLogitScale: true).embed(paths: [path], context: .default)
        XCTAssertLessThanOrEqual(relativeL2(upstream.values, ours.values.map { $0 * 20 }), 1e-5)
    }

    func testSessionEmbedsImagesAudiosAndTextsInOrder() throws {
        let path = try ImageBindTests.container("f32").container.file.path
        let session = try ImageBindSession(path: path, mergesFile: "\(TestSupport.fixtures)/clip-bpe-4k/merges.txt", context: .default)
        let photo = "\(TestSupport.fixtures)/images/photo420.jpg"
        let audios = ["\(Self.media)/tone16k-mono.wav", "\(Self.media)/tone44k-stereo.wav", "\(Self.media)/tone44k.mp3"]
        let embeddings = try session.embed(images: [photo], audios: audios, texts: ["a tone"])
        let d = session.model.config.outEmbedDim
        XCTAssertEqual(embeddings.shape, [5, d])
        let wav = try ImageBindAudioEmbedder(model: session.model).embed(paths: [audios[0]], context: .default)
        XCTAssertEqual(Array(embeddings.values[d..<(2 * d)]), wav.values)
        XCTAssertThrowsError(try session.embed(images: [], audios: ["\(Self.media)/truncated.wav"], texts: [])) {
            XCTAssertTrue("\($0)".contains("truncated.wav"), "\($0)")
        }
        XCTAssertThrowsError(try session.embed(images: [], audios: [], texts: [])) {
            XCTAssertTrue("\($0)".contains("audio"), "\($0)")
        }
    }
}
