import Foundation
import NextGPTAnyToAny
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTMedia
import NextGPTSessions
import NextGPTTestSupport
import XCTest

/// A video run of the tiny system: the video projector's output drives TextToVideoSDPipeline as
/// NExT-GPT's `custom_vd.py` call does (`prompt_embeds=` the conditioning, the negative the encoded
/// ""), and `nextgpt run` writes it as video-0.mp4.
final class NExTGPTSessionVideoTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("nextgpt-session-video")
    static let recipe = ["--vicuna", "Tests/Fixtures/vicuna", "--delta", "Tests/Fixtures/nextgpt-delta", "--delta-lora-alpha", "16",
                         "--zeroscope", "Tests/Fixtures/zeroscope", "--type", "f32"]

    func container() throws -> String {
        try ModelsTestSupport.container(recipe: Self.recipe, named: "nextgpt-zeroscope-f32", origin: "NExTGPTSessionVideoTests", in: Self.folder)
    }

    func testForcedVideoRunDecodesTheConditioning() throws {
        let path = try container()
        var request = NExTGPTRequest(text: "Make a video of a panda.")
        XCTAssertEqual(request.video.numFrames, 24)
        XCTAssertEqual(request.video.height, 320)
        XCTAssertEqual(request.video.width, 576)
        XCTAssertEqual(request.video.steps, 50)
        XCTAssertEqual(request.video.guidanceScale, 7.5)
        XCTAssertEqual(request.videoFPS, 8)
        request.forcedOutputs = [.video]
        request.generation.maxNewTokens = 4
        (request.video.steps, request.video.numFrames, request.video.height, request.video.width) = (2, 3, 16, 24)
        let result = try NExTGPTSession(path: path, context: .default).run(request)
        XCTAssertEqual(result.stages.map(\.name), ["llm", "video"])
        XCTAssertTrue(result.skippedOutputs.isEmpty, "\(result.skippedOutputs)")
        let conditioning = try XCTUnwrap(result.conditioning[.video])
        XCTAssertEqual(conditioning.shape, [1, 77, 48])
        XCTAssertEqual(result.videos.count, 1)
        XCTAssertEqual(result.videos[0].shape, [3, 16, 24, 3])

        // The same call by hand: prompt_embeds = the conditioning, the negative the text encoder's "".
        let pipeline = try TextToVideoSDPipeline(try ModelFile(path: path))
        var direct = request.video
        direct.promptEmbeds = conditioning
        let frames = try pipeline.generate(direct, context: .default).frames
        XCTAssertEqual(frames.values, result.videos[0].values)
    }

    func testRunCommandWritesTheVideo() throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nextgpt").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("build the nextgpt product first: \(binary)") }
        let out = "\(Self.folder)/run-out"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "-m", try container(), "-p", "Make a video of a panda.", "--force-output", "video",
                             "--max-new-tokens", "4", "--video-steps", "1", "--video-frames", "3", "--video-width", "16",
                             "--video-height", "16", "--fps", "8", "-o", out]
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, stderr)
        let video = try VideoFile(path: "\(out)/video-0.mp4")
        XCTAssertEqual(video.frameCount, 3)
        XCTAssertEqual(video.fps, 8)
        XCTAssertEqual(video.width, 16)
        let manifest = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/manifest.json"))) as? [String: Any])
        XCTAssertEqual(manifest["files"] as? [String], ["reply.txt", "video-0.mp4"])
    }

    func testContainerWithoutZeroScopeSkipsTheVideo() throws {
        let path = try ModelsTestSupport.container(recipe: ["--vicuna", "Tests/Fixtures/vicuna", "--delta", "Tests/Fixtures/nextgpt-delta",
                                                            "--delta-lora-alpha", "16", "--type", "f32"],
                                                   named: "nextgpt-llm-only-f32", origin: "NExTGPTSessionVideoTests", in: Self.folder)
        var request = NExTGPTRequest(text: "Make a video.")
        request.forcedOutputs = [.video]
        request.generation.maxNewTokens = 2
        let result = try NExTGPTSession(path: path, context: .default).run(request)
        XCTAssertTrue(result.videos.isEmpty)
        XCTAssertEqual(result.skippedOutputs.map(\.modality), [.video])
        XCTAssertTrue(result.skippedOutputs[0].reason.contains("--zeroscope"), result.skippedOutputs[0].reason)
    }
}
