import Foundation
import NextGPTMedia
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// The real `nextgpt audio` on the tiny AudioLDM fixture: the WAV it writes reads back through
/// libsndfile at the vocoder's 16 kHz with `int(seconds · 16000)` samples, in both sample formats,
/// carries the prompt and settings, and equals the pipeline's own waveform (float format).
final class AudioCommandTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("audio-command")

    private func binary() throws -> String {
        let path = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nextgpt").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("build the nextgpt product first (swift build --build-tests builds it): \(path)")
        }
        return path
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stderr)
    }

    private func container() throws -> String {
        try ModelsTestSupport.container(for: try ReferenceBundle(path: "\(TestSupport.bundles)/audioldm/txt2audio-f32.safetensors"), in: Self.folder)
    }

    func testWritesAWAVLibsndfileReadsAtTheRightRateAndLength() throws {
        let model = try container()
        for (format, seconds) in [("pcm16", "0.3"), ("float", "0.13")] {
            let output = "\(Self.folder)/out-\(format).wav"
            let stats = "\(Self.folder)/stats-\(format).json"
            let result = try run(["audio", "-m", model, "-p", "a hammer hitting wood", "--steps", "2", "--seconds", seconds,
                                  "--seed", "5", "--format", format, "--stats-json", stats, "-o", output])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stderr.contains("step 2/2"), result.stderr)
            XCTAssertTrue(result.stderr.contains("s/step"), result.stderr)
            XCTAssertTrue(result.stderr.contains("peak"), result.stderr)
            let waveform = try AudioFile.read(path: output)
            XCTAssertEqual(waveform.sampleRate, 16000)
            XCTAssertEqual(waveform.channels, 1)
            XCTAssertEqual(waveform.frames, Int(Double(seconds)! * 16000))
            XCTAssertGreaterThan(waveform.samples.map(abs).max() ?? 0, 0)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: output))
            for text in ["a hammer hitting wood", "seed: 5", "steps: 2"] {
                XCTAssertNotNil(bytes.range(of: Data(text.utf8)), "\(format): \(text) not in the INFO chunk")
            }
            let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
            XCTAssertEqual((record["step_seconds"] as? [Double])?.count, 2)
            XCTAssertEqual(record["samples"] as? Int, waveform.frames)
        }
        // ffprobe, when the machine has it, reads the same rate and length
        let ffprobe = ["/usr/bin/ffprobe", "/usr/local/bin/ffprobe"].first { FileManager.default.isExecutableFile(atPath: $0) }
        if let ffprobe {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ffprobe)
            process.arguments = ["-v", "error", "-show_entries", "stream=sample_rate,duration_ts", "-of", "csv=p=0", "\(Self.folder)/out-pcm16.wav"]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), "16000,4800")
        }
    }

    func testRefusesBadArguments() throws {
        let model = try container()
        let output = "\(Self.folder)/never.wav"
        for (arguments, expected) in [(["--steps", "0"], "--steps"), (["--seconds", "-1"], "--seconds"), (["--seconds", "0.01"], "audio_length_in_s"),
                                      (["--scheduler", "heun"], "unknown scheduler"), (["--format", "mp3"], "format")] {
            let result = try run(["audio", "-m", model, "-p", "x", "-o", output] + arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        }
    }
}
