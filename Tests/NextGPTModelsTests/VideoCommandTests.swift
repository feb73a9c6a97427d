import Foundation
import NextGPTDiffusion
import NextGPTKernels
import NextGPTLayers
import NextGPTMedia
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// The real `nextgpt video` on the tiny ZeroScope container: the MP4 read back with VideoFile
/// (frame count, rate, size, and the frames against the pipeline's own output within H.264's
/// loss), the PNG frames exact, the GIF, progress and the closing line, and refused options.
final class VideoCommandTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("video-command")

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
        try ModelsTestSupport.container(for: try ReferenceBundle(path: "\(TestSupport.bundles)/sd/txt2video-zeroscope-f32.safetensors"),
                                        in: Self.folder)
    }

    func testWritesAnMP4OfThePipelinesFrames() throws {
        let model = try container()
        let output = "\(Self.folder)/panda.mp4"
        let framesDir = "\(Self.folder)/panda-frames"
        let result = try run(["video", "-m", model, "-p", "a panda", "--steps", "2", "--frames", "3", "-W", "32", "-H", "16",
                              "--seed", "5", "--fps", "8", "--frames-dir", framesDir, "--threads", "2", "-o", output])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("s/step"), result.stderr)
        XCTAssertTrue(result.stderr.contains("decoding frame 3/3"), result.stderr)
        XCTAssertTrue(result.stderr.contains("3 frames 32×16 at 8 fps (libx264)") && result.stderr.contains("peak"), result.stderr)

        let video = try VideoFile(path: output)
        XCTAssertEqual(video.frameCount, 3)
        XCTAssertEqual(video.fps, 8)
        XCTAssertEqual(video.width, 32)
        XCTAssertEqual(video.height, 16)

        // The same request through the API: the PNG frames are its frames exactly, the MP4's within H.264's loss.
        let pipeline = try TextToVideoSDPipeline(try ModelFile(path: model))
        var request = TextToVideoRequest(prompt: "a panda")
        (request.steps, request.numFrames, request.width, request.height, request.seed) = (2, 3, 32, 16, 5)
        let expected = try VideoFrames.images(from: try pipeline.generate(request, context: .default).frames)
        let pngs = try (0..<3).map { try PNGImage.read(path: String(format: "\(framesDir)/frame-%04d.png", $0)) }
        XCTAssertEqual(pngs, expected)
        let decoded = try video.frames(at: [0, 1, 2])
        var total = 0, count = 0
        for (a, b) in zip(decoded, expected) {
            for (p, q) in zip(a.pixels, b.pixels) { total += abs(Int(p) - Int(q)); count += 1 }
        }
        let mean = Double(total) / Double(count)
        print("nextgpt video mp4 vs pipeline frames: mean |Δ| \(mean)")
        // The fixture's frames are noise at 32×16 (pixel std 65), the worst case for yuv420p's
        // shared chroma and CRF 17: ffmpeg's own `-c:v libx264 -crf 17 -pix_fmt yuv420p` of the
        // same PNGs decodes 26.8 levels off on average, this file 27.5. (Smooth frames keep to
        // 1.9: VideoWriterTests.)
        XCTAssertLessThanOrEqual(mean, 30)
        XCTAssertFalse(FileManager.default.fileExists(atPath: VideoWriter.temporaryPath(for: output)))
    }

    func testGIFAndRefusedOptions() throws {
        let model = try container()
        let gif = "\(Self.folder)/panda.gif"
        // GIF delays are whole centiseconds (8 fps alternates 12 and 13), and libavformat reports
        // no average rate for fewer than 3 frames: 3 frames at 10 fps read back exactly.
        let result = try run(["video", "-m", model, "-p", "a panda", "--steps", "1", "--frames", "3", "-W", "16", "-H", "16",
                              "--fps", "10", "--gif", "-o", gif])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("(gif)"), result.stderr)
        let video = try VideoFile(path: gif)
        XCTAssertEqual(video.frameCount, 3)
        XCTAssertEqual(video.fps, 10, accuracy: 1e-9)
        let bad = try run(["video", "-m", model, "-p", "x", "-W", "20", "-o", "\(Self.folder)/bad.mp4"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("-W must be a positive multiple of 8"), bad.stderr)
        let unwritable = "\(Self.folder)/missing/dir/out.mp4"
        let failed = try run(["video", "-m", model, "-p", "x", "--steps", "1", "--frames", "1", "-W", "16", "-H", "16", "-o", unwritable])
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.stderr.contains(unwritable), failed.stderr)
    }
}
