import Foundation
import NextGPTFormats
import NextGPTKernels
import NextGPTTestSupport
import XCTest

/// The signal kernels (scalar Swift) against numpy and torchaudio: cases made by
/// tools/references/bundle_imagebind_audio.py in Tests/Fixtures/references/signal/.
final class SignalKernelTests: XCTestCase {
    private func cases(_ name: String) throws -> Checkpoint {
        try SafetensorsFile.read(path: "\(TestSupport.references)/signal/\(name).safetensors")
    }

    private func floats(_ file: Checkpoint, _ name: String) throws -> [Float] {
        try XCTUnwrap(file[name], "no \(name)").readFloats()
    }

    func testRealFFTMatchesNumpy() throws {
        let file = try cases("fbank")
        for n in [2, 8, 64, 512] {
            let x = try floats(file, "fft\(n).x")
            let (re, im) = try RealFFT(count: n)(x)
            let expectRe = try floats(file, "fft\(n).real"), expectIm = try floats(file, "fft\(n).imag")
            let ours = zip(re, im).flatMap { [$0, $1] }, expect = zip(expectRe, expectIm).flatMap { [$0, $1] }
            let error = relativeL2(ours, expect)
            print("rfft \(n): rel L2 \(error)")
            XCTAssertEqual(re.count, n / 2 + 1)
            XCTAssertLessThanOrEqual(error, 1e-6, "rfft \(n)")
        }
        XCTAssertThrowsError(try RealFFT(count: 400))
    }

    func testMelBanksAndWindowMatchTorchaudio() throws {
        let file = try cases("fbank")
        let fbank = try KaldiFbank()
        XCTAssertEqual(fbank.paddedWindowSize, 512)
        let banks = relativeL2(fbank.melBanks, try floats(file, "mel_banks"))
        let window = relativeL2(fbank.window, try floats(file, "hann400"))
        print("mel banks rel L2 \(banks), hann window rel L2 \(window)")
        // torch's vectorised float32 log is not correctly rounded (1 ulp off at some bins, 2.4e-4
        // at mel ≈ 2800), and a triangle's slope divides that by its ~20-mel width.
        XCTAssertLessThanOrEqual(banks, 1e-5)
        XCTAssertLessThanOrEqual(zip(fbank.melBanks, try floats(file, "mel_banks")).map { abs($0 - $1) }.max() ?? 0, 5e-5)
        XCTAssertLessThanOrEqual(window, 1e-6)
    }

    func testFbankMatchesTorchaudio() throws {
        let file = try cases("fbank")
        let x = try floats(file, "fbank.x"), expect = try floats(file, "fbank.out")
        let fbank = try KaldiFbank()
        // Channel 0 of the stereo [2, n] input, as kaldi.fbank's channel -1 → 0.
        let ours = try x.withUnsafeBufferPointer { try fbank(UnsafeBufferPointer(rebasing: $0[0..<(x.count / 2)])) }
        XCTAssertEqual(ours.count, expect.count)
        XCTAssertEqual(fbank.frameCount(x.count / 2), expect.count / 128)
        let error = relativeL2(ours, expect)
        print("fbank rel L2 \(error)")
        XCTAssertLessThanOrEqual(error, 1e-5)
        XCTAssertThrowsError(try [Float](repeating: 0.1, count: 399).withUnsafeBufferPointer { try fbank($0) }) {
            XCTAssertTrue("\($0)".contains("399 samples are fewer than one 400-sample window"), "\($0)")
        }
    }

    func testResampleMatchesTorchaudio() throws {
        let file = try cases("resample")
        for (name, rate) in [("r44100", 44100), ("r22050", 22050), ("r8000", 8000), ("r48000", 48000)] {
            let x = try floats(file, "\(name).x"), expect = try floats(file, "\(name).y")
            let resampler = try SincResampler(from: rate, to: 16000)
            let n = x.count / 2
            let ours = x.withUnsafeBufferPointer { all in
                resampler(UnsafeBufferPointer(rebasing: all[0..<n])) + resampler(UnsafeBufferPointer(rebasing: all[n...]))
            }
            XCTAssertEqual(ours.count, expect.count, name)
            let error = relativeL2(ours, expect)
            print("resample \(rate) → 16000: rel L2 \(error)")
            XCTAssertLessThanOrEqual(error, 1e-5, name)
        }
        XCTAssertThrowsError(try SincResampler(from: 0, to: 16000))
    }
}
